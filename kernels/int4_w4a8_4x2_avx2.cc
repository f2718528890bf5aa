// INT4 K2 weights x int8 activations with AVX2; tiles of 4 rows of A x 2 columns of B.
//
// Per 128 k (64 code bytes) of a weight row, two vshufps of the code dwords give two vectors
// whose int32 lane L holds the first (second) 4 code bytes of 16 k run kLaneBlocks[L], so that
// one lane of the dot product sums 16 consecutive k, all in one group (Int4GroupFitsSteps),
// and is scaled per lane in float. XOR 0x88 turns both two's-complement nibbles q of a byte into
// q + 8 in [0, 16): the unsigned operand of vpmaddubsw once masked out. Each call reorders the
// activations once into the same lane order and even/odd split, with -8 x each lane's sum as
// the int32 starting value, so every group sum is exact. int16 pair sums stay below
// 4 x 15 x 127 x 2 < 2^15.
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

constexpr int64_t kChunk = Avx2Int8Chunks::kChunk;  // k per step: 64 code bytes, 8 lanes of 16 k
constexpr int64_t kLaneK = 16;
constexpr int kWeightOffset = 8;  // weights are multiplied as q + 8

// Where a chunk's weight scales lie and how lanes pick theirs.
struct ScaleLayout {
  int64_t bytes;         // bytes of one chunk's scales: 128 / G of them (at least one)
  __m256i lane_groups;   // lane L: its group's index among the chunk's (float32 scales)
  __m256i lane_bf16;     // vpshufb index: lane L's BF16 scale to the lane's upper half
};

ScaleLayout LayoutFor(int64_t group, int64_t scale_bytes) {
  alignas(32) int32_t lane_groups[8];
  alignas(32) uint8_t lane_bf16[32];
  for (int lane = 0; lane < 8; ++lane) {
    const int g = group <= kChunk ? static_cast<int>(kLaneBlocks[lane] * kLaneK / group) : 0;
    lane_groups[lane] = g;
    const uint8_t bytes[4] = {0x80, 0x80, static_cast<uint8_t>(2 * g),
                              static_cast<uint8_t>(2 * g + 1)};
    std::memcpy(lane_bf16 + 4 * lane, bytes, 4);
  }
  const int64_t groups = group <= kChunk ? kChunk / group : 1;
  return {groups * scale_bytes,
          _mm256_load_si256(reinterpret_cast<const __m256i*>(lane_groups)),
          _mm256_load_si256(reinterpret_cast<const __m256i*>(lane_bf16))};
}

// Exactly `bytes` (2, 4, 8, 16 or 32) bytes of scales: none past the end of the scale array.
__m256i LoadScaleBytes(const uint8_t* scales, int64_t bytes) {
  switch (bytes) {
    case 32:
      return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales));
    case 16:
      return _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales)));
    case 8:
      return _mm256_castsi128_si256(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(scales)));
    case 4: {
      int32_t word;
      std::memcpy(&word, scales, sizeof word);
      return _mm256_castsi128_si256(_mm_cvtsi32_si128(word));
    }
    default: {
      uint16_t half;
      std::memcpy(&half, scales, sizeof half);
      return _mm256_castsi128_si256(_mm_cvtsi32_si128(half));
    }
  }
}

// The kernel's part of MultiplyInt8 (kernels/int8_tile_driver.h).
template <ScaleKind kKind>
struct Int4W4a8Avx2 : Avx2Int8Chunks {
  static constexpr int64_t kScaleBytes = kKind == ScaleKind::kFloat32 ? 4 : 2;

  explicit Int4W4a8Avx2(int64_t group) : group(group), layout(LayoutFor(group, kScaleBytes)) {}

  void PrepareChunk(const int8_t* values, const float* row_scales, int64_t begin, int64_t count,
                    PreparedChunk& chunk) const {
    for (int lane = 0; lane < 8; ++lane) {
      const int64_t offset = kLaneBlocks[lane] * kLaneK;
      chunk.scale[lane] = offset < count ? row_scales[(begin + offset) / group] : 0.0f;
    }
    SplitActivations(values, kWeightOffset, chunk);
  }

  // A chunk's first scale: groups before it.
  int64_t ScaleOffset(int64_t chunk) const { return chunk * kChunk / group * kScaleBytes; }

  [[gnu::always_inline]] ChunkWeights LoadWeights(const uint8_t* codes,
                                                  const uint8_t* scales) const {
    const __m256i flip_signs = _mm256_set1_epi8(static_cast<char>(0x88));
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    ChunkWeights w;
    __m256i halves[2];
    LoadBlockHalves(codes, halves[0], halves[1]);
    for (int h = 0; h < 2; ++h) {
      const __m256i offset_codes = _mm256_xor_si256(halves[h], flip_signs);
      w.bytes[h][0] = _mm256_and_si256(offset_codes, nibble);
      w.bytes[h][1] = _mm256_and_si256(_mm256_srli_epi16(offset_codes, 4), nibble);
    }
    // The weight scales of the chunk in lane order.
    const __m256i raw = LoadScaleBytes(scales, layout.bytes);
    if constexpr (kKind == ScaleKind::kBf16) {
      // At most 8 BF16 scales: 16 bytes, which vpshufb reaches in either 128-bit half.
      w.scales = _mm256_castsi256_ps(_mm256_shuffle_epi8(
          _mm256_broadcastsi128_si256(_mm256_castsi256_si128(raw)), layout.lane_bf16));
    } else {
      w.scales = _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(raw, layout.lane_groups));
    }
    return w;
  }

  static float OutputScale(const WeightsView&) { return 1.0f; }

  int64_t group;
  ScaleLayout layout;
};

}  // namespace

void int4_w4a8_4x2_avx2(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  if (!Int4GroupFitsSteps(args.b.block)) {
    int4_w4a8_scalar(args, n_begin, n_end);
    return;
  }
  // E4M3 and E8M0 scales are E2M1 formats only, other paths.
  DispatchScaleKind<ScaleKind::kBf16, ScaleKind::kFloat32>(args.b.scale_kind, [&](auto kind) {
    MultiplyInt8(Int4W4a8Avx2<decltype(kind)::value>(args.b.block), args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
