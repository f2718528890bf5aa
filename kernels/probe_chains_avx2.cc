// The AVX2 loops of the machine probes (see kernels/probe_chains.h), alone in a file built with
// AVX2 flags: no inline code shared with other files (see kernels/microkernel.bzl).
#include <cstdint>

#include "kernels/probe_chains.h"
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

double Int8DotChainsAvx2(int64_t iterations) {
  __m256i v[kInt8DotChainsAvx2];
#pragma GCC unroll 10
  for (int c = 0; c < kInt8DotChainsAvx2; ++c) v[c] = _mm256_set1_epi32(c + 1);
  // Two weights, so that the two products are not one.
  const __m256i ones = _mm256_set1_epi8(1), twos = _mm256_set1_epi8(2);
  const __m256i word_ones = _mm256_set1_epi16(1);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 10
    for (int c = 0; c < kInt8DotChainsAvx2; ++c) {
      const __m256i pairs =
          _mm256_add_epi16(_mm256_maddubs_epi16(v[c], ones), _mm256_maddubs_epi16(v[c], twos));
      v[c] = _mm256_add_epi32(v[c], _mm256_madd_epi16(pairs, word_ones));
    }
  }
  __m256i sum = v[0];
#pragma GCC unroll 10
  for (int c = 1; c < kInt8DotChainsAvx2; ++c) sum = _mm256_add_epi32(sum, v[c]);
  alignas(32) uint32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), sum);
  uint32_t total = 0;
  for (uint32_t lane : lanes) total += lane;
  return total;
}

}  // namespace fp4moe::kernels
