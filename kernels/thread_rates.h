#ifndef FP4MOE_KERNELS_THREAD_RATES_H_
#define FP4MOE_KERNELS_THREAD_RATES_H_

// How fast a loop runs on one thread and on every OpenMP thread at once: what the machine
// probes (kernels/vector_probe.h, kernels/peak_probe.h) measure their loops with.

#include <cstdint>

#include "absl/functional/function_ref.h"

namespace fp4moe::kernels {

// A probe loop: runs `iterations` steps and returns what they computed, which is kept so that
// the work is not dropped.
using ProbeLoop = absl::FunctionRef<double(int64_t iterations)>;

// Units per second of one call of `loop` on the calling thread, each step worth `step_units`.
double TimedRate(ProbeLoop loop, int64_t iterations, double step_units);

struct ThreadRates {
  int threads = 0;        // OpenMP threads that ran at once
  double total = 0;       // units per second, all of them together
  double slowest = 0;     // the slowest thread's rate among them
};

// The best (by total) of `passes` runs of `loop` on every OpenMP thread at once, each thread
// starting after a barrier.
ThreadRates RatesOnAllThreads(ProbeLoop loop, int64_t iterations, double step_units, int passes);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_THREAD_RATES_H_
