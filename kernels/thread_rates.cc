#include "kernels/thread_rates.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace fp4moe::kernels {

double TimedRate(ProbeLoop loop, int64_t iterations, double step_units) {
  volatile double sink = 0;
  const auto start = std::chrono::steady_clock::now();
  sink = loop(iterations);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  (void)sink;
  return step_units * static_cast<double>(iterations) / seconds;
}

ThreadRates RatesOnAllThreads(ProbeLoop loop, int64_t iterations, double step_units, int passes) {
  ThreadRates best;
  for (int pass = 0; pass < passes; ++pass) {
    std::vector<double> rates(omp_get_max_threads(), 0.0);
    int threads = 0;
#pragma omp parallel
    {
#pragma omp barrier
      rates[omp_get_thread_num()] = TimedRate(loop, iterations, step_units);
#pragma omp single
      threads = omp_get_num_threads();
    }
    double total = 0, slowest = rates[0];
    for (int t = 0; t < threads; ++t) {
      total += rates[t];
      slowest = std::min(slowest, rates[t]);
    }
    if (total > best.total) best = {threads, total, slowest};
  }
  return best;
}

}  // namespace fp4moe::kernels
