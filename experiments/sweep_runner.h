#ifndef FP4MOE_EXPERIMENTS_SWEEP_RUNNER_H_
#define FP4MOE_EXPERIMENTS_SWEEP_RUNNER_H_

// Expands a sweep into cases and runs them: accuracy against the Eigen double reference on the
// float weights, and speed with a roofline.

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "experiments/report_writer.h"
#include "experiments/sweep_config.h"
#include "kernels/microkernel.h"

namespace fp4moe::experiments {

struct Case {
  int64_t index = 0;
  Measure measure = Measure::kGemm;
  const ModelShape* model = nullptr;
  Projection projection = Projection::kUp;  // GEMM only
  const WeightDistribution* distribution = nullptr;
  uint64_t seed = 0;
  // nullopt: Eigen's float32 GEMM on the unquantized weights (the float_baseline).
  std::optional<WeightFormat> format;
  int64_t group_size = 0;
  std::optional<kernels::GemmPath> path;  // nullopt: auto
  int tp_parts = 1;
  int threads = 0;  // 0: all
  int64_t qlen = 0;
};

// Every case of the sweep, in index order; outer loops are the weights (so consecutive cases
// share them), qlen is innermost.
std::vector<Case> EnumerateCases(const SweepConfig& config);

struct RunOptions {
  int shard_index = 0;
  int shard_count = 1;  // case i runs in shard i % shard_count
  // Called with each finished row (already as it reads back from CSV).
  std::function<void(const ResultRow&)> on_row;
  // Checked between cases: set it (e.g. from a SIGINT handler) to stop after the current one.
  const std::atomic<bool>* stop = nullptr;
  bool progress = true;  // a progress line with ETA on stderr
};

struct RunResult {
  std::vector<ResultRow> rows;
  int64_t shard_cases = 0;
  bool stopped = false;
};

// OK when 0 <= shard_index < shard_count, else an error saying what is wrong: RunSweep checks
// it, and compare before it writes anything.
absl::Status CheckShard(int shard_index, int shard_count);

absl::StatusOr<RunResult> RunSweep(const SweepConfig& config, const RunOptions& options);

}  // namespace fp4moe::experiments

#endif  // FP4MOE_EXPERIMENTS_SWEEP_RUNNER_H_
