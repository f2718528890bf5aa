#ifndef FP4MOE_BENCHMARKS_BENCHMARK_HELPERS_H_
#define FP4MOE_BENCHMARKS_BENCHMARK_HELPERS_H_

// What the Google Benchmark binaries (benchmarks:gemm_benchmark, benchmarks:moe_benchmark) share: how a
// case is registered and the roofline counters it reports.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"

namespace fp4moe::kernels {

// Registers benchmark `name` running run(state, args...) (args copied), timed by the wall
// clock, since the work runs on an OpenMP team, and reported in milliseconds.
template <typename Run, typename... Args>
void RegisterWallTimeBenchmark(const std::string& name, Run run, const Args&... args) {
  benchmark::RegisterBenchmark(name.c_str(), run, args...)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

// Sets the counters of an iteration that streams `bytes` weight bytes and runs `ops`
// operations: GFLOP=x/s and GB=x/s; mem_ms and cmp_ms, the roofs (the bytes at `bandwidth`
// bytes/s, the operations at `peak` ops/s); and roof=x/s, the larger roof over the measured
// time (1 means on the roof).
void SetRooflineCounters(benchmark::State& state, double bytes, double ops, double bandwidth,
                         double peak);

// The benchmarks check every size and count flag before anything is allocated or measured, so
// that a bad value is one message and exit 1, never a failed allocation, an overflow or a crash
// in the OpenMP runtime.

// Each of `texts` (a list flag's values) as a positive integer, or InvalidArgument naming `what`
// and the first text that is not one.
absl::StatusOr<std::vector<int64_t>> PositiveIntegers(std::string_view what,
                                                      const std::vector<std::string>& texts);

// InvalidArgument naming --`flag` unless min <= value <= max.
absl::Status CheckFlagRange(std::string_view flag, int64_t value, int64_t min, int64_t max);

// InvalidArgument naming `what` unless the product of `factors` (non-negative) times
// `element_bytes` fits this machine's memory.
absl::Status CheckFitsMemory(std::string_view what, std::initializer_list<int64_t> factors,
                             int64_t element_bytes);

// --threads (0: all cores, up to moe::kMaxThreads), --stream_bytes (0 or more) and
// --bandwidth_probe_bytes (1 or more), which both benchmarks take; the byte counts must fit
// memory. Sets OpenMP's thread count.
absl::Status CheckCommonFlagsAndSetThreads(int threads, int64_t stream_bytes,
                                           int64_t probe_bytes);

// Google Benchmark's repetition count as it will read it (the last --benchmark_repetitions=N
// of the command line, else $BENCHMARK_REPETITIONS) must be in [1, 1000]: benchmark::Initialize
// takes any 32-bit value and keeps it to itself. Call before benchmark::Initialize.
absl::Status CheckBenchmarkRepetitions(int argc, char** argv);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_BENCHMARKS_BENCHMARK_HELPERS_H_
