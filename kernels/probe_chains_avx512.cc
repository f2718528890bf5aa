// The AVX-512 loops of the machine probes (see kernels/probe_chains.h), alone in a file built
// with AVX-512 flags: no inline code shared with other files (see kernels/microkernel.bzl).
#include <cstdint>

#include "kernels/probe_chains.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {

double Int8DotChainsAvx512(int64_t iterations) {
  __m512i acc[kDotChainsAvx512];
#pragma GCC unroll 12
  for (int c = 0; c < kDotChainsAvx512; ++c) acc[c] = _mm512_set1_epi32(c);
  const __m512i ones = _mm512_set1_epi8(1), twos = _mm512_set1_epi8(2);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kDotChainsAvx512; ++c) acc[c] = _mm512_dpbusd_epi32(acc[c], ones, twos);
  }
  __m512i sum = acc[0];
#pragma GCC unroll 12
  for (int c = 1; c < kDotChainsAvx512; ++c) sum = _mm512_add_epi32(sum, acc[c]);
  alignas(64) uint32_t lanes[16];
  _mm512_store_si512(lanes, sum);
  uint32_t total = 0;
  for (uint32_t lane : lanes) total += lane;
  return total;
}

double Bf16DotChainsAvx512(int64_t iterations) {
  __m512 acc[kDotChainsAvx512];
#pragma GCC unroll 12
  for (int c = 0; c < kDotChainsAvx512; ++c) acc[c] = _mm512_set1_ps(static_cast<float>(c));
  // BF16 2^-6: exponent 127 - 6, no mantissa.
  const __m512bh weights = reinterpret_cast<__m512bh>(_mm512_set1_epi16(121 << 7));
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kDotChainsAvx512; ++c) {
      acc[c] = _mm512_dpbf16_ps(acc[c], weights, weights);
    }
  }
  alignas(64) float lanes[kDotChainsAvx512][16];
#pragma GCC unroll 12
  for (int c = 0; c < kDotChainsAvx512; ++c) _mm512_store_ps(lanes[c], acc[c]);
  double total = 0;
  for (const auto& chain : lanes) {
    for (float lane : chain) total += lane;
  }
  return total;
}

}  // namespace fp4moe::kernels
