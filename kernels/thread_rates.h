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

// What every OpenMP thread delivers together in one common window, as a parallel kernel gets
// it: after a barrier each thread calls `loop` (`iterations` steps a call) until `seconds` have
// passed; the units of all calls over the time from the barrier until the last thread stops.
// A thread that the host pauses delivers less here, where RatesOnAllThreads times each thread
// over its own run.
struct WindowRates {
  int threads = 0;
  double seconds = 0;       // from the barrier until the last thread stopped
  double total = 0;         // units per second, all threads together
  double least_share = 0;   // the least units one thread delivered, over the mean
  double most_share = 0;    // the most, over the mean
};
WindowRates RatesInOneWindow(ProbeLoop loop, int64_t iterations, double step_units,
                             double seconds);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_THREAD_RATES_H_
