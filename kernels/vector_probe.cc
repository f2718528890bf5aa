#include "kernels/vector_probe.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "absl/strings/str_format.h"
#include "kernels/cpu_features.h"
#include "kernels/fma_chains.h"

namespace fp4moe::kernels {
namespace {

// About 2 ms a pass on one thread of the Xeon.
constexpr int64_t kIterations = 1 << 19;
constexpr int kPasses = 3;

// FMAs per second of one FmaChainsAvx2 pass on the calling thread; `sink` keeps its result.
double TimedPass(volatile float& sink) {
  const auto start = std::chrono::steady_clock::now();
  sink = FmaChainsAvx2(kIterations);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(kFmaChains) * kIterations / seconds;
}

}  // namespace

VectorScaling MeasureVectorScaling() {
  VectorScaling scaling;
  if (!DetectedCpuFeatures().avx2) return scaling;
  volatile float sink = 0;
  for (int pass = 0; pass < kPasses; ++pass) {
    scaling.one_thread = std::max(scaling.one_thread, TimedPass(sink));
  }
  for (int pass = 0; pass < kPasses; ++pass) {
    std::vector<double> rates(omp_get_max_threads(), 0.0);
    int threads = 0;
#pragma omp parallel
    {
      volatile float thread_sink = 0;
#pragma omp barrier
      rates[omp_get_thread_num()] = TimedPass(thread_sink);
#pragma omp single
      threads = omp_get_num_threads();
    }
    double total = 0, slowest = rates[0];
    for (int t = 0; t < threads; ++t) {
      total += rates[t];
      slowest = std::min(slowest, rates[t]);
    }
    if (total > scaling.all_threads) {
      scaling.threads = threads;
      scaling.all_threads = total;
      scaling.slowest_thread = slowest;
    }
  }
  return scaling;
}

std::string VectorScalingLine(const VectorScaling& scaling) {
  if (scaling.threads == 0) return "vector probe: no AVX2 here";
  return absl::StrFormat(
      "vector probe (AVX2 FMA): 1 thread %.2f G/s, %d threads %.1f G/s together: %.1f threads' "
      "worth (slowest %.2f G/s)",
      scaling.one_thread / 1e9, scaling.threads, scaling.all_threads / 1e9, scaling.ThreadsWorth(),
      scaling.slowest_thread / 1e9);
}

}  // namespace fp4moe::kernels
