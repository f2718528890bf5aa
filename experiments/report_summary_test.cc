#include "experiments/report_summary.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fp4moe::experiments {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(ParetoFrontTest, KeepsWhatNothingBeatsOnBothAxes) {
  const double nan = kNotMeasured;
  // (error, speed): b beats a (less error, as fast); c is fastest; d is most accurate;
  // e ties c exactly, so neither beats the other; f has no speed.
  EXPECT_THAT(
      ParetoFront({{0.2, 100}, {0.1, 100}, {0.3, 500}, {0.05, 10}, {0.3, 500}, {0.01, nan}}),
      ElementsAre(false, true, true, true, true, false));
  EXPECT_THAT(ParetoFront({}), ElementsAre());
}

ResultRow Row(const std::string& format, const std::string& path, int64_t qlen, double error,
              double tokens_per_s) {
  ResultRow r;
  r.measure = "gemm";
  r.model = "m";
  r.projection = "up";
  r.format = format;
  r.group_size = format == "int4_k2" ? 32 : 16;
  r.path = path;
  r.qlen = qlen;
  r.threads = 2;
  r.bits_per_weight = format == "mxfp4" ? 4.25 : 4.5;
  r.rel_err = error;
  r.tokens_per_s = tokens_per_s;
  r.time_median_us = 1e6 * qlen / tokens_per_s;
  r.time_q1_us = r.time_q3_us = r.time_median_us;  // quiet
  r.cpu_model = "Test CPU";
  r.isa = "avx2";
  r.l3_bytes = 8 << 20;
  r.working_set_bytes = 1 << 20;
  return r;
}

TEST(MarkdownSummaryTest, OneLinePerFormatAndPathWithTheFrontInBold) {
  std::vector<ResultRow> rows = {
      Row("nvfp4", "w4a8", 1, 0.07, 1000),        Row("nvfp4", "w4a8", 64, 0.07, 20000),
      Row("mxfp4", "w4a8", 1, 0.14, 900),         Row("mxfp4", "w4a8", 64, 0.14, 30000),
      Row("int4_k2", "int4_w4a8", 1, 0.11, 1500), Row("int4_k2", "int4_w4a8", 64, 0.11, 10000)};
  // The down projection of nvfp4 at qlen 1: a second case in that cell, not a second line.
  rows.push_back(Row("nvfp4", "w4a8", 1, 0.09, 4000));
  rows.back().projection = "down";
  const std::string summary = MarkdownSummary(rows);
  EXPECT_THAT(summary, HasSubstr("Machine: Test CPU, avx2 kernels."));
  EXPECT_THAT(summary, HasSubstr("### GEMM `m`, 2 threads\n"));
  EXPECT_THAT(summary, HasSubstr("weights in cache (working set 1.0 MiB, L3 8.0 MiB)"));
  EXPECT_THAT(
      summary,
      HasSubstr("| format | path | bits/w | rel.err | tokens/s, qlen 1 | tokens/s, qlen 64 |"));
  // nvfp4 at qlen 1: geometric mean of 1000 and 4000, mean error of 0.07, 0.07 and 0.09.
  EXPECT_THAT(summary, HasSubstr("| nvfp4 | w4a8 | 4.50 | 0.07667 | **2000** | **2e+04** |"));
  // mxfp4 is beaten at qlen 1 (more error, slower than nvfp4) but fastest at qlen 64.
  EXPECT_THAT(summary, HasSubstr("| mxfp4 | w4a8 | 4.25 | 0.14000 | 900 | **3e+04** |"));
  // int4 is slower than nvfp4 at qlen 1 (1500 < 2000) and less accurate: beaten at both.
  EXPECT_THAT(summary, HasSubstr("| int4_k2(G=32) | int4_w4a8 | 4.50 | 0.11000 | 1500 | 1e+04 |"));
}

TEST(MarkdownSummaryTest, NoisyCellsAreFlaggedAndLeftOffTheFront) {
  std::vector<ResultRow> rows = {Row("nvfp4", "w4a8", 8, 0.07, 1000),
                                 Row("mxfp4", "w4a8", 8, 0.14, 900)};
  rows[0].time_q1_us = 0.5 * rows[0].time_median_us;  // IQR 50% of the median
  const std::string summary = MarkdownSummary(rows);
  EXPECT_THAT(summary, HasSubstr("| nvfp4 | w4a8 | 4.50 | 0.07000 | noisy (1 of 1) |"));
  // With nvfp4 left out, nothing beats mxfp4.
  EXPECT_THAT(summary, HasSubstr("| mxfp4 | w4a8 | 4.25 | 0.14000 | **900** |"));
}

TEST(MarkdownSummaryTest, SettingsSplitAndSkipsAndAccuracyOnlyRowsAreHandled) {
  std::vector<ResultRow> rows = {Row("nvfp4", "w4a8", 8, 0.07, 1000)};
  rows.push_back(rows[0]);
  rows.back().measure = "moe";
  rows.back().model = "layer";
  rows.back().tp_parts = 2;
  rows.push_back(rows[0]);
  rows.back().note = "skipped: no kernel";
  rows.back().format = "mxfp4";
  const std::string summary = MarkdownSummary(rows);
  EXPECT_THAT(summary, HasSubstr("### GEMM `m`, 2 threads\n"));
  EXPECT_THAT(summary, HasSubstr("### MoE layer `layer`, 2 threads, TP 2\n"));
  EXPECT_THAT(summary, Not(HasSubstr("mxfp4")));

  ResultRow accuracy = Row("nvfp4", "w4a8", 8, 0.07, kNotMeasured);
  accuracy.time_median_us = kNotMeasured;
  const std::string accuracy_summary = MarkdownSummary({accuracy});
  EXPECT_THAT(accuracy_summary, HasSubstr("| format | path | bits/w | rel.err |\n"));
  EXPECT_THAT(accuracy_summary, HasSubstr("| nvfp4 | w4a8 | 4.50 | 0.07000 |\n"));
  EXPECT_THAT(accuracy_summary, HasSubstr("Nothing was timed"));
  EXPECT_EQ(MarkdownSummary({}), "");
}

}  // namespace
}  // namespace fp4moe::experiments
