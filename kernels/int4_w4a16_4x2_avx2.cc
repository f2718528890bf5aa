// INT4 K2 weights x BF16 activations with AVX2 + FMA: the W4A16 AVX2 driver
// (kernels/w4a16_avx2_driver.h) with an INT4 decode. A run of 16 k lies in one group (G a
// multiple of 16; other groups go to the scalar kernel). Its codes' values x the group's scale,
// rounded to BF16 as the reference rounds each weight, make two 8-entry tables (codes 0..7 and
// 8..15, i.e. -8..-1); vpermps looks a nibble's low 3 bits up in both and its top bit picks one.
#include <cstdint>

#include "kernels/avx2_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/scalar_helpers.h"
#include "kernels/simd.h"
#include "kernels/w4a16_avx2_driver.h"
#include "quant/bf16.h"

namespace fp4moe::kernels {
namespace {

struct Int4 {
  static void ChunkScales(const WeightsView& b, int64_t column, int64_t first_run, int64_t runs,
                          float* out) {
    const auto* scales = reinterpret_cast<const uint16_t*>(b.scales) + column * (b.k / b.block);
    GroupCursor group(16 * first_run, b.block);
    for (int64_t i = 0; i < runs; ++i) out[i] = Bf16ToFloat(scales[group.At(16 * (first_run + i))]);
  }

  static void Decode(float scale, __m256i codes, __m256& even, __m256& odd) {
    const __m256 s = _mm256_set1_ps(scale);
    const __m256 positive = RoundToBf16Floats(
        _mm256_mul_ps(_mm256_setr_ps(0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f), s));
    const __m256 negative = RoundToBf16Floats(
        _mm256_mul_ps(_mm256_setr_ps(-8.0f, -7.0f, -6.0f, -5.0f, -4.0f, -3.0f, -2.0f, -1.0f), s));
    const __m256i high = _mm256_srli_epi32(codes, 4);
    // blendv takes the second table where bit 31 is set: the nibble's top bit moved there.
    even = _mm256_blendv_ps(_mm256_permutevar8x32_ps(positive, codes),
                            _mm256_permutevar8x32_ps(negative, codes),
                            _mm256_castsi256_ps(_mm256_slli_epi32(codes, 28)));
    odd = _mm256_blendv_ps(_mm256_permutevar8x32_ps(positive, high),
                           _mm256_permutevar8x32_ps(negative, high),
                           _mm256_castsi256_ps(_mm256_slli_epi32(codes, 24)));
  }
};

}  // namespace

void int4_w4a16_4x2_avx2(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  if (args.b.block % 16 != 0) {
    int4_w4a16_scalar(args, n_begin, n_end);
    return;
  }
  MultiplyW4a16Avx2<Int4>(args, n_begin, n_end);
}

}  // namespace fp4moe::kernels
