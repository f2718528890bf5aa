#ifndef FP4MOE_EXPERIMENTS_SHARD_MERGE_H_
#define FP4MOE_EXPERIMENTS_SHARD_MERGE_H_

// Joining the CSVs of a sharded sweep (compare --shard_index/--shard_count) into the rows of one
// run: only a whole set of shards of one config, each given once.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "experiments/report_writer.h"

namespace fp4moe::experiments {

// One shard's CSV as read back.
struct ShardCsv {
  std::string file;  // labels errors
  std::vector<ResultRow> rows;
};

// The rows of all shards in case order, as one unsharded run writes them (shard 0 of 1).
// Refuses, naming the files:
// - a file whose rows are of two runs (sweeps, configs or shards);
// - a case index outside [0, case_count) or outside its file's shard, or a case twice;
// - files of different sweeps, of different configs (config_hash), or of different shard counts;
// - a shard given twice, and a number of files other than the shard count (a shard missing);
// - timed rows from two machines (accuracy is the same anywhere, speed is not).
// A file without rows (a shard stopped before its first case ended) stands for a shard that
// no other file gives.
absl::StatusOr<std::vector<ResultRow>> MergeShards(const std::vector<ShardCsv>& shards);

}  // namespace fp4moe::experiments

#endif  // FP4MOE_EXPERIMENTS_SHARD_MERGE_H_
