// The vector-throughput probe's loop (see kernels/fma_chains.h), alone in a file built with
// AVX2 flags: no inline code shared with other files (see kernels/microkernel.bzl).
#include <cstdint>

#include "kernels/fma_chains.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {

float FmaChainsAvx2(int64_t iterations) {
  __m256 x[kFmaChains];
#pragma GCC unroll 10
  for (int c = 0; c < kFmaChains; ++c) {
    x[c] = _mm256_set1_ps(1.0f + 0.125f * static_cast<float>(c));
  }
  const __m256 factor = _mm256_set1_ps(0.999f), term = _mm256_set1_ps(0.001f);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 10
    for (int c = 0; c < kFmaChains; ++c) x[c] = _mm256_fmadd_ps(x[c], factor, term);
  }
  alignas(32) float lanes[kFmaLanes];
  __m256 sum = x[0];
#pragma GCC unroll 10
  for (int c = 1; c < kFmaChains; ++c) sum = _mm256_add_ps(sum, x[c]);
  _mm256_store_ps(lanes, sum);
  float total = 0;
  for (float lane : lanes) total += lane;
  return total;
}

}  // namespace fp4moe::kernels
