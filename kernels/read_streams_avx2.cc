// A read kernel of the bandwidth probe (see kernels/read_streams.h), alone in a file built with
// AVX2 flags: no inline code shared with other files (see kernels/microkernel.bzl).
#include <cstdint>

#include "kernels/read_streams.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {

uint64_t ReadStreamsAvx2(const uint8_t* data, int64_t bytes, int streams) {
  constexpr int64_t kLine = 64, kAhead = 8 * kLine;
  const int64_t part = bytes / streams / kLine * kLine;
  __m256i acc = _mm256_setzero_si256();
  for (int64_t offset = 0; offset < part; offset += kLine) {
    for (int s = 0; s < streams; ++s) {
      const uint8_t* line = data + s * part + offset;
      _mm_prefetch(reinterpret_cast<const char*>(line + kAhead), _MM_HINT_T0);
      const __m256i low = _mm256_load_si256(reinterpret_cast<const __m256i*>(line));
      const __m256i high = _mm256_load_si256(reinterpret_cast<const __m256i*>(line + 32));
      acc = _mm256_xor_si256(acc, _mm256_xor_si256(low, high));
    }
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc);
  return lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3];
}

}  // namespace fp4moe::kernels
