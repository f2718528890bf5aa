#include "experiments/shard_merge.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "quant/test_matchers.h"

namespace fp4moe::experiments {
namespace {

using ::testing::HasSubstr;

// Case `index` of a 7-case sweep run as `shard_count` shards.
ResultRow Row(int64_t index, int64_t shard_count = 3) {
  ResultRow r;
  r.case_index = index;
  r.case_count = 7;
  r.shard_count = shard_count;
  r.shard_index = index % shard_count;
  r.config_hash = "0123456789abcdef";
  r.sweep = "test";
  r.measure = "gemm";
  r.cpu = "here (avx2=1 avx512=0 amx=0)";
  return r;
}

// The CSV of shard `index` of 3, every case of it.
ShardCsv Shard(int64_t index) {
  ShardCsv shard{"r.shard-" + std::to_string(index) + "-of-3.csv", {}};
  for (int64_t c = index; c < 7; c += 3) shard.rows.push_back(Row(c));
  return shard;
}

void ExpectRefused(const std::vector<ShardCsv>& shards, const std::string& message) {
  EXPECT_THAT(MergeShards(shards),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(message)));
}

TEST(ShardMergeTest, JoinsAWholeSetInCaseOrder) {
  absl::StatusOr<std::vector<ResultRow>> rows = MergeShards({Shard(2), Shard(0), Shard(1)});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 7u);
  for (int64_t i = 0; i < 7; ++i) {
    EXPECT_EQ((*rows)[i].case_index, i);
    // As one unsharded run writes them.
    EXPECT_EQ((*rows)[i].shard_index, 0);
    EXPECT_EQ((*rows)[i].shard_count, 1);
  }
}

TEST(ShardMergeTest, TakesOneUnshardedRunAndAStoppedOne) {
  ShardCsv whole{"r.csv", {}};
  for (int64_t c = 0; c < 4; ++c) whole.rows.push_back(Row(c, 1));  // stopped after 4 of 7
  absl::StatusOr<std::vector<ResultRow>> rows = MergeShards({whole});
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), 4u);
  // A shard stopped before its first case has no rows: it stands for the shard not given.
  ShardCsv empty{"r.shard-1-of-3.csv", {}};
  rows = MergeShards({Shard(0), empty, Shard(2)});
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), 5u);
}

TEST(ShardMergeTest, RefusesAMissingShard) {
  ExpectRefused({Shard(0), Shard(2)},
                "2 shard CSVs given for a sweep run as 3 shards (no rows of shard 1)");
}

TEST(ShardMergeTest, RefusesAShardGivenTwice) {
  ExpectRefused({Shard(0), Shard(1), Shard(1)},
                "r.shard-1-of-3.csv and r.shard-1-of-3.csv are both shard 1 of 3: give each "
                "shard once");
}

TEST(ShardMergeTest, RefusesShardsOfDifferentCounts) {
  ShardCsv of_two{"r.shard-1-of-2.csv", {Row(1, 2), Row(3, 2)}};
  ExpectRefused({Shard(0), of_two},
                "r.shard-0-of-3.csv is shard 0 of 3 and r.shard-1-of-2.csv shard 1 of 2: shards "
                "of different counts");
}

TEST(ShardMergeTest, RefusesShardsOfDifferentConfigs) {
  ShardCsv other = Shard(1);
  for (ResultRow& row : other.rows) row.config_hash = "fedcba9876543210";
  ExpectRefused({Shard(0), other, Shard(2)},
                "r.shard-0-of-3.csv and r.shard-1-of-3.csv are shards of different configs "
                "(config_hash 0123456789abcdef and fedcba9876543210)");
  other = Shard(1);
  for (ResultRow& row : other.rows) row.sweep = "other";
  ExpectRefused({Shard(0), other, Shard(2)}, "are of different sweeps");
}

TEST(ShardMergeTest, RefusesCasesOutOfRange) {
  ShardCsv shard = Shard(1);
  shard.rows.push_back(Row(10));  // 10 % 3 = 1, but the sweep has 7 cases
  ExpectRefused({Shard(0), shard, Shard(2)},
                "r.shard-1-of-3.csv: case 10 is out of range: the sweep has cases 0 to 6");
  shard = Shard(1);
  shard.rows.push_back(Row(-2));
  shard.rows.back().shard_index = 1;
  ExpectRefused({Shard(0), shard, Shard(2)}, "case -2 is out of range");
  shard = Shard(1);
  shard.rows.back().case_index = 5;  // a case of shard 2
  ExpectRefused({Shard(0), shard, Shard(2)},
                "r.shard-1-of-3.csv: case 5 is not in shard 1 of 3 (case % 3 = 2)");
  shard = Shard(1);
  for (ResultRow& row : shard.rows) row.shard_index = 3;
  ExpectRefused({Shard(0), shard, Shard(2)}, "r.shard-1-of-3.csv: shard 3 of 3 is not a shard");
}

TEST(ShardMergeTest, RefusesAFileOfTwoRuns) {
  ShardCsv mixed = Shard(0);
  mixed.rows.push_back(Row(1));
  ExpectRefused({mixed, Shard(1), Shard(2)},
                "r.shard-0-of-3.csv: case 0 is of sweep 'test' (7 cases, config_hash "
                "0123456789abcdef), shard 0 of 3, case 1 of sweep 'test' (7 cases, config_hash "
                "0123456789abcdef), shard 1 of 3");
  ShardCsv twice = Shard(0);
  twice.rows.push_back(Row(3));
  ExpectRefused({twice, Shard(1), Shard(2)}, "case 3 appears twice");
}

TEST(ShardMergeTest, KeepsSpeedFiguresToOneMachine) {
  ShardCsv here = Shard(0), there = Shard(1);
  for (ResultRow& row : there.rows) row.cpu = "other-host (avx2=1 avx512=1 amx=1)";
  // Accuracy-only rows may come from anywhere.
  EXPECT_TRUE(MergeShards({here, there, Shard(2)}).ok());
  here.rows[0].time_median_us = 10;
  there.rows[0].time_median_us = 12;
  ExpectRefused({here, there, Shard(2)}, "speed rows from two machines");
  for (ResultRow& row : there.rows) row.cpu = here.rows[0].cpu;
  EXPECT_TRUE(MergeShards({here, there, Shard(2)}).ok());
}

}  // namespace
}  // namespace fp4moe::experiments
