#include "experiments/report_writer.h"

#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fp4moe::experiments {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ResultRow Row(int64_t index, const std::string& measure) {
  ResultRow r;
  r.case_index = index;
  r.case_count = 3;
  r.sweep = "test";
  r.measure = measure;
  r.model = "m";
  r.hidden = 256;
  r.intermediate = 128;
  r.projection = measure == "gemm" ? "up" : "layer";
  r.distribution = "gaussian";
  r.format = "nvfp4";
  r.group_size = 16;
  r.path = "w4a8";
  r.kernel = "k";
  r.qlen = 4;
  r.threads = 2;
  r.rel_err = 0.0731234567;
  r.cosine = 0.997;
  r.max_abs_err = 0.5;
  r.cpu = "avx2=1 avx512=0 amx=0";
  return r;
}

TEST(ReportWriterTest, CsvRoundTripKeepsFieldsAndQuotes) {
  ResultRow r = Row(7, "gemm");
  r.note = "skipped: a, \"quoted\" reason";
  const std::string text = CsvHeader() + "\n" + CsvLine(r) + "\n";
  absl::StatusOr<std::vector<ResultRow>> rows = ParseCsv(text, "t.csv");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  const ResultRow& back = (*rows)[0];
  EXPECT_EQ(back.case_index, 7);
  EXPECT_EQ(back.note, r.note);
  EXPECT_EQ(back.cpu, r.cpu);
  EXPECT_DOUBLE_EQ(back.rel_err, 0.0731235);  // 6 significant digits
  EXPECT_TRUE(std::isnan(back.time_median_us));  // not measured stays not measured
  EXPECT_EQ(CsvLine(back), CsvLine(r));
  EXPECT_EQ(CsvLine(RoundTripped(r)), CsvLine(r));
}

TEST(ReportWriterTest, ParseCsvRejectsForeignFiles) {
  EXPECT_FALSE(ParseCsv("a,b\n1,2\n", "x.csv").ok());
  absl::StatusOr<std::vector<ResultRow>> short_row = ParseCsv(CsvHeader() + "\n1,2\n", "x.csv");
  ASSERT_FALSE(short_row.ok());
  EXPECT_THAT(std::string(short_row.status().message()), HasSubstr("x.csv:2"));
}

TEST(ReportWriterTest, MarkdownHasATablePerMeasureAndListsSkips) {
  ResultRow skipped = Row(2, "gemm");
  skipped.note = "skipped: no kernel";
  const std::string report =
      MarkdownReport({Row(0, "gemm"), Row(1, "moe"), skipped}, {"plots/a.png"});
  EXPECT_THAT(report, HasSubstr("# Sweep `test`"));
  EXPECT_THAT(report, HasSubstr("3 of 3 cases"));
  EXPECT_THAT(report, HasSubstr("## GEMM"));
  EXPECT_THAT(report, HasSubstr("## MoE layer"));
  EXPECT_THAT(report, HasSubstr("| 0 | m | up [128, 256] |"));
  EXPECT_THAT(report, HasSubstr("0.07312"));
  EXPECT_THAT(report, HasSubstr("- case 2 (gemm m nvfp4 w4a8): skipped: no kernel"));
  EXPECT_THAT(report, HasSubstr("![plots/a.png](plots/a.png)"));
  EXPECT_THAT(MarkdownReport({Row(0, "gemm")}, {}), Not(HasSubstr("## MoE")));
}

TEST(ReportWriterTest, MarkdownOpensWithTheSummaryAndFlagsNoisyTimings) {
  ResultRow quiet = Row(0, "gemm"), noisy = Row(1, "gemm");
  for (ResultRow* r : {&quiet, &noisy}) {
    r->time_median_us = 100;
    r->time_q1_us = 98;
    r->time_q3_us = 103;
    r->tokens_per_s = 4e4;
  }
  noisy.path = "w4a16";
  noisy.time_q3_us = 130;  // IQR 32% of the median
  const std::string report = MarkdownReport({quiet, noisy}, {});
  const size_t summary = report.find("## Summary"), table = report.find("## GEMM");
  ASSERT_NE(summary, std::string::npos);
  EXPECT_LT(summary, table);
  EXPECT_THAT(report, HasSubstr("| median us | spread % | IQR % | tokens/s |"));
  // No min and max: no spread, where it printed nan.
  EXPECT_THAT(report, HasSubstr("| 100.0 | - | 5.0 | 4e+04 |"));
  EXPECT_THAT(report, HasSubstr("| 100.0 | - | 32.0 **noisy** | 4e+04 |"));
  EXPECT_THAT(report, HasSubstr("| nvfp4 | w4a16 | - | 0.07312 | noisy (1 of 1) |"));
}

TEST(ReportWriterTest, TextTableShowsMissingSpeedAsDash) {
  const std::string line = TextTableLine(Row(0, "gemm"));
  EXPECT_THAT(line, HasSubstr("nvfp4"));
  EXPECT_THAT(line, HasSubstr("0.07312"));
  EXPECT_THAT(line, HasSubstr(" - "));
}

}  // namespace
}  // namespace fp4moe::experiments
