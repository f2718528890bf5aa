// The second read kernel of the bandwidth probe (kernels/roofline.cc), alone in a file built
// with AVX2 flags: no inline code shared with other files (see kernels/microkernel.bzl).
#include <cstdint>

#include "kernels/simd.h"

namespace fp4moe::kernels {

// XOR of `bytes` bytes (a multiple of 256) at `data`, read as four streams at once (the four
// quarters, a line of each per step) with 256-bit loads and software prefetches a few lines
// ahead: one thread keeps more lines in flight than a single sequential stream does.
uint64_t ReadFourStreamsAvx2(const uint8_t* data, int64_t bytes) {
  constexpr int64_t kLine = 64, kAhead = 8 * kLine;
  const int64_t quarter = bytes / 4 / kLine * kLine;
  __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                    _mm256_setzero_si256()};
  for (int64_t offset = 0; offset < quarter; offset += kLine) {
    for (int s = 0; s < 4; ++s) {
      const uint8_t* line = data + s * quarter + offset;
      _mm_prefetch(reinterpret_cast<const char*>(line + kAhead), _MM_HINT_T0);
      const __m256i low = _mm256_load_si256(reinterpret_cast<const __m256i*>(line));
      const __m256i high = _mm256_load_si256(reinterpret_cast<const __m256i*>(line + 32));
      acc[s] = _mm256_xor_si256(acc[s], _mm256_xor_si256(low, high));
    }
  }
  const __m256i all =
      _mm256_xor_si256(_mm256_xor_si256(acc[0], acc[1]), _mm256_xor_si256(acc[2], acc[3]));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), all);
  return lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3];
}

}  // namespace fp4moe::kernels
