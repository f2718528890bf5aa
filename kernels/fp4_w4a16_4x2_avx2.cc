// E2M1 weights x BF16 activations with AVX2 + FMA: the W4A16 AVX2 driver
// (kernels/w4a16_avx2_driver.h) with the E2M1 decode. A run of 16 k is one E2M1 block. Each
// nibble becomes a float by vpermps from the 8 E2M1 magnitudes times the block scale (vpermps
// reads only the low 3 bits of its index, so no masking) and an XOR of the sign bit. For
// float32 scales the table is rounded to BF16 first, as the scalar reference rounds each
// decoded weight; E4M3 and E8M0 products are exact.
#include <cstdint>
#include <cstring>

#include "kernels/avx2_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"
#include "kernels/w4a16_avx2_driver.h"

namespace fp4moe::kernels {
namespace {

template <ScaleKind kKind>
struct E2m1 {
  static void ChunkScales(const WeightsView& b, int64_t column, int64_t first_block,
                          int64_t blocks, float* out) {
    if constexpr (kKind == ScaleKind::kFloat32) {
      std::memcpy(out, b.scales + (column * (b.k / 16) + first_block) * 4, blocks * 4);
    } else {
      const uint8_t* scales = b.scales + column * (b.k / 16) + first_block;
      alignas(8) uint8_t tail[kChunkRuns] = {};
      if (blocks < kChunkRuns) {
        // Fewer than 8 blocks remain: a padded copy, so nothing past the row is read.
        std::memcpy(tail, scales, blocks);
        scales = tail;
      }
      const __m256i codes = WidenBytes(scales);
      _mm256_store_ps(out, kKind == ScaleKind::kE4M3 ? DecodeE4M3(codes) : DecodeE8M0(codes));
    }
  }

  static void Decode(float scale, __m256i codes, __m256& even, __m256& odd) {
    const __m256 magnitudes = _mm256_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f);
    const __m256i sign_bit = _mm256_set1_epi32(INT32_MIN);
    __m256 table = _mm256_mul_ps(magnitudes, _mm256_set1_ps(scale));
    if constexpr (kKind == ScaleKind::kFloat32) table = RoundToBf16Floats(table);
    even = _mm256_xor_ps(
        _mm256_permutevar8x32_ps(table, codes),
        _mm256_castsi256_ps(_mm256_and_si256(_mm256_slli_epi32(codes, 28), sign_bit)));
    odd = _mm256_xor_ps(
        _mm256_permutevar8x32_ps(table, _mm256_srli_epi32(codes, 4)),
        _mm256_castsi256_ps(_mm256_and_si256(_mm256_slli_epi32(codes, 24), sign_bit)));
  }
};

}  // namespace

void fp4_w4a16_4x2_avx2(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    MultiplyW4a16Avx2<E2m1<decltype(kind)::value>>(args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
