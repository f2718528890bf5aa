// E2M1 weights x int8 activations with AVX2; tiles of 4 rows of A x 2 columns of B.
//
// Per 128 elements (64 code bytes, 8 blocks) of a weight row, two vshufps of the code dwords
// give two vectors whose int32 lane L holds the first (second) 4 code bytes of block
// LaneBlocks()[L], so that one lane of the dot product sums exactly one block and the per-block
// float scaling needs no horizontal step. Low nibbles (even elements) and high nibbles (odd ones)
// become bytes by vpshufb from a 16-entry table of 2 x value + 12 (0..24): the unsigned operand
// of vpmaddubsw. Each call reorders the activations once into the same lane order and even/odd
// split, with -12 x each block's sum as the int32 starting value, so every block sum is exact.
// int16 pair sums stay below 4 x 24 x 127 x 2 < 2^15.
#include <cstdint>
#include <cstring>

#include "kernels/avx2_helpers.h"
#include "kernels/int8_tile_driver.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"

namespace fp4moe::kernels {
namespace {

constexpr int kWeightOffset = 12;  // table entries are 2 x E2M1 + 12

// 8 one-byte scales, byte LaneBlocks()[L] in the low byte of dword lane L, the rest zero.
__m256i ScaleBytesInLaneOrder(const uint8_t* scales) {
  int64_t bytes;
  std::memcpy(&bytes, scales, sizeof bytes);
  const __m256i index = _mm256_setr_epi8(0, -1, -1, -1, 1, -1, -1, -1, 4, -1, -1, -1, 5, -1, -1,
                                         -1, 2, -1, -1, -1, 3, -1, -1, -1, 6, -1, -1, -1, 7, -1,
                                         -1, -1);
  return _mm256_shuffle_epi8(_mm256_set1_epi64x(bytes), index);
}

// The kernel's part of MultiplyInt8 (kernels/int8_tile_driver.h).
template <ScaleKind kKind>
struct Fp4W4a8Avx2 : Avx2Int8Chunks {
  static constexpr int64_t kScaleBytes = kKind == ScaleKind::kFloat32 ? 4 : 1;
  static constexpr int64_t kChunkBlocks = kChunk / 16;

  void PrepareChunk(const int8_t* values, const float* row_scales, int64_t begin, int64_t count,
                    PreparedChunk& chunk) const {
    alignas(32) float padded_scales[kChunkBlocks];
    const float* scales = BlockScalesOfChunk(row_scales, begin, count, padded_scales);
    SplitActivations(values, kWeightOffset, chunk);
    _mm256_store_ps(chunk.scale, _mm256_permutevar8x32_ps(_mm256_loadu_ps(scales), LaneBlocks()));
  }

  static int64_t ScaleOffset(int64_t chunk) { return chunk * kChunkBlocks * kScaleBytes; }

  [[gnu::always_inline]] static ChunkWeights LoadWeights(const uint8_t* codes,
                                                         const uint8_t* scales) {
    const __m256i table = _mm256_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6,
                                           4, 0, 12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9,
                                           8, 6, 4, 0);
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    ChunkWeights w;
    __m256i halves[2];
    LoadBlockHalves(codes, halves[0], halves[1]);
    for (int h = 0; h < 2; ++h) {
      w.bytes[h][0] = _mm256_shuffle_epi8(table, _mm256_and_si256(halves[h], nibble));
      w.bytes[h][1] =
          _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(halves[h], 4), nibble));
    }
    // The 8 block scales in lane order.
    if constexpr (kKind == ScaleKind::kE4M3) {
      w.scales = DecodeE4M3(ScaleBytesInLaneOrder(scales));
    } else if constexpr (kKind == ScaleKind::kE8M0) {
      w.scales = DecodeE8M0(ScaleBytesInLaneOrder(scales));
    } else {
      w.scales = _mm256_permutevar8x32_ps(_mm256_loadu_ps(reinterpret_cast<const float*>(scales)),
                                          LaneBlocks());
    }
    return w;
  }

  static float OutputScale(const WeightsView& b) { return 0.5f * b.tensor_scale; }
};

}  // namespace

void fp4_w4a8_4x2_avx2(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    MultiplyInt8(Fp4W4a8Avx2<decltype(kind)::value>(), args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
