#ifndef FP4MOE_BENCHMARKS_BENCHMARK_HELPERS_H_
#define FP4MOE_BENCHMARKS_BENCHMARK_HELPERS_H_

// What the Google Benchmark binaries (benchmarks:gemm_benchmark, benchmarks:moe_benchmark) share: how a
// case is registered and the roofline counters it reports.

#include <string>

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

}  // namespace fp4moe::kernels

#endif  // FP4MOE_BENCHMARKS_BENCHMARK_HELPERS_H_
