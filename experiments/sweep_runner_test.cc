#include "experiments/sweep_runner.h"

#include <atomic>
#include <string>
#include <vector>

#include "experiments/report_writer.h"
#include "experiments/shard_merge.h"
#include "experiments/sweep_config.h"
#include "gtest/gtest.h"

namespace fp4moe::experiments {
namespace {

SweepConfig Tiny(bool speed) {
  absl::StatusOr<SweepConfig> config = LoadSweepConfig("experiments/testdata/tiny.textproto");
  EXPECT_TRUE(config.ok()) << config.status();
  config->proto.set_speed(speed);
  return *config;
}

RunOptions Quiet() {
  RunOptions options;
  options.progress = false;
  return options;
}

TEST(SweepRunnerTest, EnumeratesTheCrossProductInIndexOrder) {
  const SweepConfig config = Tiny(false);
  const std::vector<Case> cases = EnumerateCases(config);
  // (gemm + moe) x 2 distributions x (nvfp4 w4a8, nvfp4 auto, int4_k2's int4_w4a8 and
  // int4_w4a16) x 2 qlens.
  ASSERT_EQ(cases.size(), 32u);
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_EQ(cases[i].index, static_cast<int64_t>(i));
  EXPECT_EQ(cases[0].qlen, 1);
  EXPECT_EQ(cases[1].qlen, 5);
  EXPECT_EQ(cases[31].measure, Measure::kMoe);
}

TEST(SweepRunnerTest, TinySweepGivesSaneRows) {
  const SweepConfig config = Tiny(true);
  std::vector<std::string> seen;
  RunOptions options = Quiet();
  options.on_row = [&](const ResultRow& row) { seen.push_back(CsvLine(row)); };
  absl::StatusOr<RunResult> result = RunSweep(config, options);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->rows.size(), 32u);
  EXPECT_EQ(seen.size(), 32u);
  for (const ResultRow& r : result->rows) {
    SCOPED_TRACE(CsvLine(r));
    EXPECT_EQ(r.note, "");
    EXPECT_EQ(r.case_count, 32);
    EXPECT_FALSE(r.kernel.empty());
    EXPECT_GE(r.rel_err, 0);
    EXPECT_LT(r.rel_err, 0.5);
    EXPECT_GT(r.cosine, 0.95);
    EXPECT_LE(r.cosine, 1.0 + 1e-9);
    EXPECT_GE(r.max_abs_err, 0);
    EXPECT_GT(r.time_median_us, 0);
    EXPECT_LE(r.time_min_us, r.time_median_us);
    EXPECT_GE(r.time_max_us, r.time_median_us);
    EXPECT_GT(r.tokens_per_s, 0);
    EXPECT_GT(r.gb_per_s, 0);
    EXPECT_GT(r.roofline_fraction, 0);
    EXPECT_DOUBLE_EQ(r.bits_per_weight, 4.5);  // NVFP4 and INT4 K2 with G = 32 alike
    EXPECT_LE(r.time_q1_us, r.time_median_us);
    EXPECT_GE(r.time_q3_us, r.time_median_us);
    EXPECT_FALSE(r.cpu_model.empty());
    EXPECT_FALSE(r.isa.empty());
    EXPECT_GT(r.working_set_bytes, 0);
    EXPECT_GE(r.l3_bytes, 0);
    if (r.measure == "gemm") {
      EXPECT_GT(r.weight_rel_err, 0);
      EXPECT_LT(r.weight_rel_err, 0.2);
    }
  }
  EXPECT_EQ(result->rows[1].path, "w4a8");
  EXPECT_EQ(result->rows[4].format, "int4_k2");
  EXPECT_EQ(result->rows[4].path, "int4_w4a8");
  EXPECT_EQ(result->rows[6].format, "int4_k2");
  EXPECT_EQ(result->rows[6].path, "int4_w4a16");
}

TEST(SweepRunnerTest, ShardsMergedEqualOneRun) {
  const SweepConfig config = Tiny(false);  // accuracy only: deterministic rows
  absl::StatusOr<RunResult> whole = RunSweep(config, Quiet());
  ASSERT_TRUE(whole.ok()) << whole.status();
  std::vector<ShardCsv> shards;
  for (int shard = 0; shard < 3; ++shard) {
    RunOptions options = Quiet();
    options.shard_index = shard;
    options.shard_count = 3;
    absl::StatusOr<RunResult> part = RunSweep(config, options);
    ASSERT_TRUE(part.ok()) << part.status();
    EXPECT_EQ(part->shard_cases, shard < 2 ? 11 : 10);  // 32 cases
    for (const ResultRow& row : part->rows) {
      EXPECT_EQ(row.case_index % 3, shard);
      EXPECT_EQ(row.shard_index, shard);
      EXPECT_EQ(row.shard_count, 3);
      EXPECT_EQ(row.config_hash, ConfigHash(config));
    }
    shards.push_back({"shard " + std::to_string(shard), part->rows});
  }
  absl::StatusOr<std::vector<ResultRow>> merged = MergeShards(shards);
  ASSERT_TRUE(merged.ok()) << merged.status();
  ASSERT_EQ(merged->size(), whole->rows.size());
  for (size_t i = 0; i < merged->size(); ++i) {
    EXPECT_EQ(CsvLine((*merged)[i]), CsvLine(whole->rows[i]));
  }
  EXPECT_EQ(MarkdownReport(*merged, {}), MarkdownReport(whole->rows, {}));
}

TEST(SweepRunnerTest, StopFlagEndsBeforeTheNextCase) {
  std::atomic<bool> stop{true};
  RunOptions options = Quiet();
  options.stop = &stop;
  absl::StatusOr<RunResult> result = RunSweep(Tiny(false), options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->stopped);
  EXPECT_TRUE(result->rows.empty());
}

TEST(SweepRunnerTest, RejectsBadShards) {
  RunOptions options = Quiet();
  options.shard_index = 2;
  options.shard_count = 2;
  EXPECT_FALSE(RunSweep(Tiny(false), options).ok());
  EXPECT_TRUE(CheckShard(1, 2).ok());
  EXPECT_EQ(CheckShard(2, 2).message(), "shard index 2 of 2 shards: want 0 <= shard_index < 2");
  EXPECT_EQ(CheckShard(-1, 2).message(), "shard index -1 of 2 shards: want 0 <= shard_index < 2");
  EXPECT_EQ(CheckShard(0, 0).message(), "shard count 0: want at least 1");
  EXPECT_EQ(CheckShard(0, -3).message(), "shard count -3: want at least 1");
}

}  // namespace
}  // namespace fp4moe::experiments
