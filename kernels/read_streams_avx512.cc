// A read kernel of the bandwidth probe (see kernels/read_streams.h) with 512-bit loads: a line
// per load. Built natively and as a SIMDe copy (kernels/microkernel.bzl).
#include <cstdint>

#include "kernels/read_streams.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {

uint64_t FP4MOE_MICROKERNEL(ReadStreamsAvx512)(const uint8_t* data, int64_t bytes, int streams) {
  constexpr int64_t kLine = 64, kAhead = 8 * kLine;
  const int64_t part = bytes / streams / kLine * kLine;
  __m512i acc = _mm512_setzero_si512();
  for (int64_t offset = 0; offset < part; offset += kLine) {
    for (int s = 0; s < streams; ++s) {
      const uint8_t* line = data + s * part + offset;
      _mm_prefetch(reinterpret_cast<const char*>(line + kAhead), _MM_HINT_T0);
      acc = _mm512_xor_si512(acc, _mm512_load_si512(line));
    }
  }
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, acc);
  uint64_t all = 0;
  for (const uint64_t lane : lanes) all ^= lane;
  return all;
}

}  // namespace fp4moe::kernels
