#include "kernels/thread_rates.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace fp4moe::kernels {
namespace {

constexpr int kMaxThreads = 1024;
std::atomic<int64_t> calls_of_thread[kMaxThreads];

// A loop whose calls take a known wall time: `iterations` microseconds, twice that on thread 1
// (a thread that the host slows); counts its calls per thread.
double SpinMicroseconds(int64_t iterations) {
  const int thread = omp_get_thread_num();
  const auto step = std::chrono::microseconds(thread == 1 ? 2 : 1);
  const auto end = std::chrono::steady_clock::now() + iterations * step;
  double spins = 0;
  while (std::chrono::steady_clock::now() < end) spins += 1;
  calls_of_thread[thread] += 1;
  return spins;
}

TEST(ThreadRatesTest, OneWindowCountsWhatEveryThreadDeliveredInIt) {
  const int threads = omp_get_max_threads();
  ASSERT_LE(threads, kMaxThreads);
  for (auto& calls : calls_of_thread) calls = 0;
  constexpr int64_t kIterations = 1000;
  constexpr double kUnitsPerStep = 0.5;
  const WindowRates rates = RatesInOneWindow(SpinMicroseconds, kIterations, kUnitsPerStep, 0.05);
  ASSERT_EQ(rates.threads, threads);
  // The window closes when the last thread's call that began within 50 ms ends.
  EXPECT_GE(rates.seconds, 0.05);
  EXPECT_LT(rates.seconds, 0.5);
  std::vector<double> units(threads);
  double sum = 0;
  for (int t = 0; t < threads; ++t) {
    EXPECT_GE(calls_of_thread[t], 1) << "thread " << t;
    units[t] = static_cast<double>(calls_of_thread[t]) * kIterations * kUnitsPerStep;
    sum += units[t];
  }
  EXPECT_DOUBLE_EQ(rates.total, sum / rates.seconds);
  const double mean = sum / threads;
  EXPECT_DOUBLE_EQ(rates.least_share, *std::min_element(units.begin(), units.end()) / mean);
  EXPECT_DOUBLE_EQ(rates.most_share, *std::max_element(units.begin(), units.end()) / mean);
  // No thread can deliver more than its calls' wall time allows.
  EXPECT_LE(calls_of_thread[0], static_cast<int64_t>(rates.seconds * 1000) + 1);
  if (threads > 1) {
    EXPECT_LE(calls_of_thread[1], static_cast<int64_t>(rates.seconds * 500) + 1);
  }
}

}  // namespace
}  // namespace fp4moe::kernels
