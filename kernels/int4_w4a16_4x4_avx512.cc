// INT4 K2 weights x BF16 activations with AVX-512: the decoded way of the W4A16 AVX-512 driver
// (kernels/w4a16_avx512_driver.h). Each 32 weights (16 code bytes, two runs of 16 k) decode by
// one vpermw from a table of the 16 codes' values x their groups' scales, rounded to BF16 once
// per table, so each weight is q x s rounded to nearest even as the reference rounds it.
// Groups that are not a multiple of 16 go to the scalar kernel.
#include <cstdint>
#include <cstring>

#include "kernels/avx512_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/scalar_helpers.h"
#include "kernels/simd.h"
#include "kernels/w4a16_avx512_driver.h"
#include "quant/bf16.h"

namespace fp4moe::kernels {
namespace {

struct Int4 {
  static void DecodeWeights(const WeightsView& b, int64_t column, int64_t k0, int64_t length,
                            uint16_t* target) {
    const uint8_t* codes = b.codes + column * (b.k / 2) + k0 / 2;
    const auto* scales = reinterpret_cast<const uint16_t*>(b.scales) + column * (b.k / b.block);
    const __m512 values = Int4Values();
    GroupCursor group(k0, b.block);
    for (int64_t off = 0; off < length; off += 32) {
      const int64_t k = k0 + off;
      const bool full = off + 32 <= length;
      // The second run of 16 exists unless k ends after the first.
      const __m512 first = _mm512_set1_ps(Bf16ToFloat(scales[group.At(k)]));
      const __m512 second =
          full ? _mm512_set1_ps(Bf16ToFloat(scales[group.At(k + 16)])) : _mm512_setzero_ps();
      if (full) {
        _mm512_store_si512(target + off, DecodePair(codes + off / 2, values, first, second));
      } else {
        alignas(16) uint8_t padded[16] = {};
        std::memcpy(padded, codes + off / 2, 8);
        _mm512_store_si512(target + off, DecodePair(padded, values, first, second));
      }
    }
  }
};

}  // namespace

void FP4MOE_MICROKERNEL(int4_w4a16_4x4_avx512)(const GemmArgs& args, int64_t n_begin,
                                                 int64_t n_end) {
  if (args.b.block % 16 != 0) {
    int4_w4a16_scalar(args, n_begin, n_end);
    return;
  }
  MultiplyDecodedW4a16<Int4>(args, n_begin, n_end);
}

}  // namespace fp4moe::kernels
