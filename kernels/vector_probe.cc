#include "kernels/vector_probe.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_format.h"
#include "kernels/cpu_features.h"
#include "kernels/probe_chains.h"
#include "kernels/thread_rates.h"

namespace fp4moe::kernels {
namespace {

// About 2 ms a pass on one thread of the Xeon.
constexpr int64_t kIterations = 1 << 19;
constexpr int kPasses = 3;

}  // namespace

VectorScaling MeasureVectorScaling() {
  VectorScaling scaling;
  if (!DetectedCpuFeatures().avx2) return scaling;
  for (int pass = 0; pass < kPasses; ++pass) {
    scaling.one_thread =
        std::max(scaling.one_thread, TimedRate(FmaChainsAvx2, kIterations, kFmaChains));
  }
  const ThreadRates all = RatesOnAllThreads(FmaChainsAvx2, kIterations, kFmaChains, kPasses);
  scaling.threads = all.threads;
  scaling.all_threads = all.total;
  scaling.slowest_thread = all.slowest;
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
