#include "experiments/report_json.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace fp4moe::experiments {
namespace {

using nlohmann::json;

TEST(ReportJsonTest, EveryRowWithEveryColumnTyped) {
  ResultRow timed;
  timed.case_index = 0;
  timed.case_count = 2;
  timed.sweep = "s";
  timed.measure = "gemm";
  timed.model = "m";
  timed.projection = "up";
  timed.distribution = "gaussian";
  timed.seed = 18446744073709551615u;  // the largest seed survives exactly
  timed.format = "nvfp4";
  timed.group_size = 16;
  timed.path = "w4a8";
  timed.qlen = 8;
  timed.threads = 2;
  timed.rel_err = 0.0731234567;
  timed.time_median_us = 40;
  timed.tokens_per_s = 2e5;
  timed.gb_per_s = 1.5;
  timed.cpu = "host (avx2=1 avx512=0 amx=0)";
  timed.cpu_model = "Test CPU \xff";  // not UTF-8: replaced, not thrown on
  timed.isa = "avx2";
  timed.l3_bytes = 8 << 20;
  ResultRow skipped = timed;
  skipped.case_index = 1;
  skipped.note = "skipped: no kernel";
  skipped.time_median_us = skipped.tokens_per_s = skipped.gb_per_s = kNotMeasured;
  const std::vector<ResultRow> rows = {RoundTripped(timed), RoundTripped(skipped)};

  const json report = json::parse(JsonReport(rows));
  EXPECT_EQ(report["context"]["sweep"], "s");
  EXPECT_EQ(report["context"]["case_count"], 2);
  EXPECT_EQ(report["context"]["hosts"], json::array({timed.cpu}));
  EXPECT_EQ(report["context"]["caches"][0]["size"], 8 << 20);
  ASSERT_EQ(report["benchmarks"].size(), 2u);
  for (size_t i = 0; i < rows.size(); ++i) {
    const json& b = report["benchmarks"][i];
    for (const RowField& field : RowFields(rows[i])) {
      SCOPED_TRACE(field.name);
      ASSERT_TRUE(b.contains(field.name));
      if (!field.number) {
        EXPECT_TRUE(b[field.name].is_string());
      } else if (field.text.empty()) {
        EXPECT_TRUE(b[field.name].is_null());
      } else {
        EXPECT_TRUE(b[field.name].is_number());
      }
    }
    EXPECT_EQ(b["run_type"], "iteration");
    EXPECT_EQ(b["name"],
              "gemm/m/up/gaussian/seed:18446744073709551615/nvfp4/G:16/w4a8/qlen:8/threads:2");
  }
  const json& first = report["benchmarks"][0];
  EXPECT_EQ(first["seed"].get<uint64_t>(), 18446744073709551615u);
  EXPECT_DOUBLE_EQ(first["rel_err"].get<double>(), 0.0731235);  // CSV precision
  EXPECT_DOUBLE_EQ(first["real_time"].get<double>(), 40);
  EXPECT_EQ(first["time_unit"], "us");
  EXPECT_DOUBLE_EQ(first["items_per_second"].get<double>(), 2e5);
  EXPECT_DOUBLE_EQ(first["bytes_per_second"].get<double>(), 1.5e9);
  const json& second = report["benchmarks"][1];
  EXPECT_FALSE(second.contains("real_time"));  // skipped: no Google Benchmark timing fields
  EXPECT_EQ(second["note"], "skipped: no kernel");
  EXPECT_TRUE(second["time_median_us"].is_null());
}

TEST(ReportJsonTest, NoRows) {
  const json report = json::parse(JsonReport({}));
  EXPECT_TRUE(report["benchmarks"].empty());
  EXPECT_EQ(report["context"]["finished_cases"], 0);
}

}  // namespace
}  // namespace fp4moe::experiments
