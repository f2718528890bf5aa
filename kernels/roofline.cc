#include "kernels/roofline.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "kernels/aligned_buffer.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm.h"

namespace fp4moe::kernels {

// kernels/read_streams_avx2.cc: the XOR of `bytes` bytes (a multiple of 256) read as four
// prefetched streams.
uint64_t ReadFourStreamsAvx2(const uint8_t* data, int64_t bytes);

double PeakFor(const PeakRates& peaks, GemmPath path, Isa isa) {
  const bool bf16 = TakesBf16Activations(path);
  switch (isa) {
    case Isa::kAmx:
      return bf16 ? peaks.amx_bf16 : peaks.amx_int8;
    case Isa::kAvx512:
      return bf16 ? peaks.avx512_bf16 : peaks.avx512_int8;
    case Isa::kAvx2:
      return peaks.avx2_int8;
    case Isa::kScalar:
      return peaks.scalar;
  }
  return peaks.scalar;
}

Roofline RooflineOf(double bytes, double bandwidth, double ops, double peak, double seconds) {
  Roofline r;
  r.memory_seconds = bytes / bandwidth;
  r.compute_seconds = ops / peak;
  r.fraction = std::max(r.memory_seconds, r.compute_seconds) / seconds;
  return r;
}

double MeasureReadBandwidth(int64_t bytes) {
  // Whole 4 KB pages per thread, so that each thread's share splits into four line streams.
  constexpr int64_t kPage = 4096;
  const int64_t pages = std::max<int64_t>(1, bytes / kPage);
  bytes = pages * kPage;
  const int64_t words = bytes / sizeof(uint64_t);
  AlignedBuffer buffer(words * sizeof(uint64_t));
  auto* data = reinterpret_cast<uint64_t*>(buffer.data());
  // First touch from the threads that will read, so pages land near them.
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < words; ++i) data[i] = i;
  const bool avx2 = DetectedCpuFeatures().avx2;
  double best = 0;
  uint64_t sink = 0;
  for (int pass = 0; pass < 4; ++pass) {
    // Two read kernels, the best of which is the probe: one plain sequential stream per
    // thread, and (with AVX2) four prefetched streams per thread.
    for (const bool streams : {false, true}) {
      if (streams && !avx2) continue;
      const auto start = std::chrono::steady_clock::now();
      uint64_t sum = 0;
      if (streams) {
#pragma omp parallel reduction(^ : sum)
        {
          const int64_t ith = omp_get_thread_num(), nth = omp_get_num_threads();
          const int64_t first = pages * ith / nth, last = pages * (ith + 1) / nth;
          sum ^= ReadFourStreamsAvx2(reinterpret_cast<const uint8_t*>(data) + first * kPage,
                                     (last - first) * kPage);
        }
      } else {
#pragma omp parallel for schedule(static) reduction(^ : sum)
        for (int64_t i = 0; i < words; ++i) sum ^= data[i];
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      sink ^= sum;
      best = std::max(best, bytes / seconds);
    }
  }
  // Keep the reads observable so the compiler cannot drop them.
  if (sink == 0x9e3779b97f4a7c15ull) std::memset(data, 0, 8);
  return best;
}

}  // namespace fp4moe::kernels
