// INT4 K2 weights x int8 activations with AVX2; tiles of 4 rows of A x 2 columns of B.
//
// Per 128 k (64 code bytes) of a weight row, two vshufps of the code dwords give two vectors
// whose int32 lane L holds the first (second) 4 code bytes of 16 k run kLaneBlocks[L], so that
// one lane of the dot product sums 16 consecutive k, all in one group (G is a multiple of 16),
// and is scaled per lane in float. XOR 0x88 turns both two's-complement nibbles q of a byte into
// q + 8 in [0, 16): the unsigned operand of vpmaddubsw once masked out. Each call reorders the
// activations once into the same lane order and even/odd split, with -8 x each lane's sum as
// the int32 starting value, so every group sum is exact. int16 pair sums stay below
// 4 x 15 x 127 x 2 < 2^15.
#include <cstdint>
#include <cstring>

#include "kernels/avx2_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/thread_scratch.h"
#include "kernels/tile_dispatch.h"

namespace fp4moe::kernels {
namespace {

constexpr int kRowTile = 4;
constexpr int kColumnTile = 2;
constexpr int64_t kChunk = 128;  // k per step: 64 code bytes, 8 lanes of 16 k
constexpr int64_t kChunkBytes = kChunk / 2;
constexpr int64_t kLaneK = 16;
// Rows of A prepared and multiplied per pass over the columns: their prepared chunks (1.5
// bytes per element) stay in L2 while each column tile's codes stay in L1.
constexpr int64_t kRowBlock = 64;
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

// The weight scales of a chunk in lane order.
template <ScaleKind kKind>
__m256 WeightScales(const uint8_t* scales, const ScaleLayout& layout) {
  const __m256i raw = LoadScaleBytes(scales, layout.bytes);
  if constexpr (kKind == ScaleKind::kBf16) {
    // At most 8 BF16 scales: 16 bytes, which vpshufb reaches in either 128-bit half.
    return _mm256_castsi256_ps(_mm256_shuffle_epi8(
        _mm256_broadcastsi128_si256(_mm256_castsi256_si128(raw)), layout.lane_bf16));
  } else {
    return _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(raw, layout.lane_groups));
  }
}

// Reorders `rows` rows of A (from row `first_row`) into chunks; the last chunk is zero-padded.
void PrepareActivations(const Int8ActivationsView& a, int64_t k, int64_t first_row,
                        int64_t rows, int64_t chunks, PreparedChunk* out) {
  const int64_t group = a.group;
  const int64_t groups = k / group;
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t* values = a.values + (first_row + r) * k;
    const float* scales = a.scales + (first_row + r) * groups;
    for (int64_t c = 0; c < chunks; ++c) {
      PreparedChunk& chunk = out[r * chunks + c];
      const int8_t* src = values + c * kChunk;
      alignas(32) int8_t padded_values[kChunk];
      const int64_t count = k - c * kChunk;
      if (count < kChunk) {
        std::memset(padded_values, 0, sizeof padded_values);
        std::memcpy(padded_values, src, count);
        src = padded_values;
      }
      for (int lane = 0; lane < 8; ++lane) {
        const int64_t offset = kLaneBlocks[lane] * kLaneK;
        chunk.scale[lane] = offset < count ? scales[(c * kChunk + offset) / group] : 0.0f;
      }
      SplitActivations(src, kWeightOffset, chunk);
    }
  }
}

// C[rows, columns] for kRows prepared rows and kColumns columns from `first_column`.
template <ScaleKind kKind, int kRows, int kColumns>
void MultiplyTile(const WeightsView& b, const ScaleLayout& layout,
                  const PreparedChunk* prepared, int64_t chunks, int64_t first_column, float* c,
                  int64_t ldc) {
  constexpr int64_t kScaleBytes = kKind == ScaleKind::kFloat32 ? 4 : 2;
  const __m256i flip_signs = _mm256_set1_epi8(static_cast<char>(0x88));
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  const int64_t code_bytes = b.k / 2;
  const int64_t groups = b.k / b.block;
  const int64_t full_chunks = b.k / kChunk;
  const uint8_t* codes[kColumns];
  const uint8_t* scales[kColumns];
  for (int col = 0; col < kColumns; ++col) {
    codes[col] = b.codes + (first_column + col) * code_bytes;
    scales[col] = b.scales + (first_column + col) * groups * kScaleBytes;
  }
  __m256 acc[kRows][kColumns];
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kColumns; ++col) acc[r][col] = _mm256_setzero_ps();
  }
  const auto multiply_chunk = [&](int64_t chunk, int col, const uint8_t* chunk_codes,
                                  const uint8_t* chunk_scales) {
    __m256i halves[2];
    LoadBlockHalves(chunk_codes, halves[0], halves[1]);
    __m256i weights[2][2];  // [half][even, odd]
    for (int h = 0; h < 2; ++h) {
      const __m256i offset_codes = _mm256_xor_si256(halves[h], flip_signs);
      weights[h][0] = _mm256_and_si256(offset_codes, nibble);
      weights[h][1] = _mm256_and_si256(_mm256_srli_epi16(offset_codes, 4), nibble);
    }
    const __m256 weight_scales = WeightScales<kKind>(chunk_scales, layout);
    for (int r = 0; r < kRows; ++r) {
      acc[r][col] = AddChunkProducts(weights, weight_scales, prepared[r * chunks + chunk],
                                     acc[r][col]);
    }
  };
  // A chunk's first scale: groups before it.
  const auto scale_offset = [&](int64_t chunk) { return chunk * kChunk / b.block * kScaleBytes; };
  for (int64_t chunk = 0; chunk < full_chunks; ++chunk) {
    for (int col = 0; col < kColumns; ++col) {
      multiply_chunk(chunk, col, codes[col] + chunk * kChunkBytes,
                     scales[col] + scale_offset(chunk));
    }
  }
  if (full_chunks < chunks) {
    // k % 128 remain (G < 128): copies padded with zero codes and scales finish the row (the
    // prepared activations and their scales are zero there too).
    const int64_t tail_k = b.k - full_chunks * kChunk;
    for (int col = 0; col < kColumns; ++col) {
      alignas(32) uint8_t tail_codes[kChunkBytes] = {};
      alignas(32) uint8_t tail_scales[32] = {};
      std::memcpy(tail_codes, codes[col] + full_chunks * kChunkBytes, tail_k / 2);
      std::memcpy(tail_scales, scales[col] + scale_offset(full_chunks),
                  tail_k / b.block * kScaleBytes);
      multiply_chunk(full_chunks, col, tail_codes, tail_scales);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kColumns; ++col) {
      c[r * ldc + first_column + col] = SumLanes(acc[r][col]);
    }
  }
}

template <ScaleKind kKind, int kColumns>
void MultiplyRows(const WeightsView& b, const ScaleLayout& layout,
                  const PreparedChunk* prepared, int64_t chunks, int64_t rows,
                  int64_t first_column, float* c, int64_t ldc) {
  ForEachRowTile<kRowTile>(rows, [&](auto tile_rows, int64_t r) {
    MultiplyTile<kKind, decltype(tile_rows)::value, kColumns>(
        b, layout, prepared + r * chunks, chunks, first_column, c + r * ldc, ldc);
  });
}

template <ScaleKind kKind>
void Multiply(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  const WeightsView& b = args.b;
  const int64_t chunks = (b.k + kChunk - 1) / kChunk;
  const int64_t row_block = args.m < kRowBlock ? args.m : kRowBlock;
  const size_t bytes = static_cast<size_t>(row_block * chunks) * sizeof(PreparedChunk);
  const ScaleLayout layout = LayoutFor(b.block, kKind == ScaleKind::kFloat32 ? 4 : 2);
  auto* prepared = static_cast<PreparedChunk*>(ThreadScratch(bytes));
  for (int64_t first_row = 0; first_row < args.m; first_row += row_block) {
    const int64_t rows = args.m - first_row < row_block ? args.m - first_row : row_block;
    PrepareActivations(args.a_int8, b.k, first_row, rows, chunks, prepared);
    float* c = args.c + first_row * args.ldc;
    ForEachColumnTile<kColumnTile>(n_begin, n_end, [&](auto columns, int64_t j) {
      MultiplyRows<kKind, decltype(columns)::value>(b, layout, prepared, chunks, rows, j, c,
                                                    args.ldc);
    });
  }
}

}  // namespace

void int4_w4a8_4x2_avx2(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  // E4M3 and E8M0 scales are E2M1 formats only, other paths.
  DispatchScaleKind<ScaleKind::kBf16, ScaleKind::kFloat32>(args.b.scale_kind, [&](auto kind) {
    Multiply<decltype(kind)::value>(args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
