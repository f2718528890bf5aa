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

WindowRates RatesInOneWindow(ProbeLoop loop, int64_t iterations, double step_units,
                             double seconds) {
  using Clock = std::chrono::steady_clock;
  std::vector<double> units(omp_get_max_threads(), 0.0);
  std::vector<Clock::time_point> ends(omp_get_max_threads());
  Clock::time_point start;
  int threads = 0;
#pragma omp parallel
  {
#pragma omp single
    {
      threads = omp_get_num_threads();
      start = Clock::now();
    }  // the single's implicit barrier: every thread starts after `start`
    const Clock::time_point deadline =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    volatile double sink = 0;
    double done = 0;
    while (Clock::now() < deadline) {
      sink = loop(iterations);
      done += step_units * static_cast<double>(iterations);
    }
    (void)sink;
    units[omp_get_thread_num()] = done;
    ends[omp_get_thread_num()] = Clock::now();
  }
  WindowRates rates;
  rates.threads = threads;
  double sum = 0, least = units[0], most = units[0];
  Clock::time_point last = start;
  for (int t = 0; t < threads; ++t) {
    sum += units[t];
    least = std::min(least, units[t]);
    most = std::max(most, units[t]);
    last = std::max(last, ends[t]);
  }
  const double mean = sum / threads;
  rates.seconds = std::chrono::duration<double>(last - start).count();
  rates.total = sum / rates.seconds;
  rates.least_share = least / mean;
  rates.most_share = most / mean;
  return rates;
}

}  // namespace fp4moe::kernels
