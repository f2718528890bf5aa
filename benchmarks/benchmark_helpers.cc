#include "benchmarks/benchmark_helpers.h"

#include <algorithm>

#include "kernels/roofline.h"

namespace fp4moe::kernels {

void SetRooflineCounters(benchmark::State& state, double bytes, double ops, double bandwidth,
                         double peak) {
  using benchmark::Counter;
  state.counters["GFLOP"] = Counter(ops * 1e-9, Counter::kIsIterationInvariantRate);
  state.counters["GB"] = Counter(bytes * 1e-9, Counter::kIsIterationInvariantRate);
  const Roofline roof = RooflineOf(bytes, bandwidth, ops, peak, 1.0);
  state.counters["mem_ms"] = roof.memory_seconds * 1e3;
  state.counters["cmp_ms"] = roof.compute_seconds * 1e3;
  // roof = max(mem, cmp) / measured time: a rate counter of max(mem, cmp) seconds per iteration.
  state.counters["roof"] = Counter(std::max(roof.memory_seconds, roof.compute_seconds),
                                   Counter::kIsIterationInvariantRate);
}

}  // namespace fp4moe::kernels
