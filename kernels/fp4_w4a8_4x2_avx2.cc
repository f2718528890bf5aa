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
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/thread_scratch.h"
#include "kernels/tile_dispatch.h"

namespace fp4moe::kernels {
namespace {

constexpr int kRowTile = 4;
constexpr int kColumnTile = 2;
constexpr int64_t kChunk = 128;  // elements per step: 64 code bytes, 8 blocks
constexpr int64_t kChunkBytes = kChunk / 2;
constexpr int64_t kChunkBlocks = kChunk / 16;
// Rows of A prepared and multiplied per pass over the columns: their prepared chunks (1.5
// bytes per element) stay in L2 while each column tile's codes stay in L1.
constexpr int64_t kRowBlock = 64;
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

// The 8 weight block scales of a chunk in lane order.
template <ScaleKind kKind>
__m256 WeightScales(const uint8_t* scales) {
  if constexpr (kKind == ScaleKind::kE4M3) {
    return DecodeE4M3(ScaleBytesInLaneOrder(scales));
  } else if constexpr (kKind == ScaleKind::kE8M0) {
    return DecodeE8M0(ScaleBytesInLaneOrder(scales));
  } else {
    return _mm256_permutevar8x32_ps(_mm256_loadu_ps(reinterpret_cast<const float*>(scales)),
                                    LaneBlocks());
  }
}

// Reorders `rows` rows of A (from row `first_row`) into chunks; the last chunk is zero-padded.
void PrepareActivations(const Int8ActivationsView& a, int64_t k, int64_t first_row,
                        int64_t rows, int64_t chunks, PreparedChunk* out) {
  const int64_t blocks = k / 16;
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t* values = a.values + (first_row + r) * k;
    const float* scales = a.scales + (first_row + r) * blocks;
    for (int64_t c = 0; c < chunks; ++c) {
      PreparedChunk& chunk = out[r * chunks + c];
      const int8_t* src = values + c * kChunk;
      const float* src_scales = scales + c * kChunkBlocks;
      alignas(32) int8_t padded_values[kChunk];
      alignas(32) float padded_scales[kChunkBlocks];
      if (const int64_t count = k - c * kChunk; count < kChunk) {
        std::memset(padded_values, 0, sizeof padded_values);
        std::memset(padded_scales, 0, sizeof padded_scales);
        std::memcpy(padded_values, src, count);
        std::memcpy(padded_scales, src_scales, count / 16 * sizeof(float));
        src = padded_values;
        src_scales = padded_scales;
      }
      SplitActivations(src, kWeightOffset, chunk);
      _mm256_store_ps(chunk.scale,
                      _mm256_permutevar8x32_ps(_mm256_loadu_ps(src_scales), LaneBlocks()));
    }
  }
}

// C[rows, columns] for kRows prepared rows and kColumns columns from `first_column`.
template <ScaleKind kKind, int kRows, int kColumns>
void MultiplyTile(const WeightsView& b, const PreparedChunk* prepared, int64_t chunks,
                  int64_t first_column, float* c, int64_t ldc) {
  constexpr int64_t kScaleBytes = kKind == ScaleKind::kFloat32 ? 4 : 1;
  const __m256i table = _mm256_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4,
                                         0, 12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6,
                                         4, 0);
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  const int64_t code_bytes = b.k / 2;
  const int64_t blocks = b.k / 16;
  const int64_t full_chunks = b.k / kChunk;
  const uint8_t* codes[kColumns];
  const uint8_t* scales[kColumns];
  for (int col = 0; col < kColumns; ++col) {
    codes[col] = b.codes + (first_column + col) * code_bytes;
    scales[col] = b.scales + (first_column + col) * blocks * kScaleBytes;
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
      weights[h][0] = _mm256_shuffle_epi8(table, _mm256_and_si256(halves[h], nibble));
      weights[h][1] =
          _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(halves[h], 4), nibble));
    }
    const __m256 weight_scales = WeightScales<kKind>(chunk_scales);
    for (int r = 0; r < kRows; ++r) {
      acc[r][col] = AddChunkProducts(weights, weight_scales, prepared[r * chunks + chunk],
                                     acc[r][col]);
    }
  };
  for (int64_t chunk = 0; chunk < full_chunks; ++chunk) {
    for (int col = 0; col < kColumns; ++col) {
      multiply_chunk(chunk, col, codes[col] + chunk * kChunkBytes,
                     scales[col] + chunk * kChunkBlocks * kScaleBytes);
    }
  }
  if (full_chunks < chunks) {
    // k % 128 elements remain: copies padded with zero codes and scales finish the row (the
    // prepared activations and their scales are zero there too).
    const int64_t tail_blocks = blocks - full_chunks * kChunkBlocks;
    for (int col = 0; col < kColumns; ++col) {
      alignas(32) uint8_t tail_codes[kChunkBytes] = {};
      alignas(32) uint8_t tail_scales[kChunkBlocks * 4] = {};
      std::memcpy(tail_codes, codes[col] + full_chunks * kChunkBytes, tail_blocks * 8);
      std::memcpy(tail_scales, scales[col] + full_chunks * kChunkBlocks * kScaleBytes,
                  tail_blocks * kScaleBytes);
      multiply_chunk(full_chunks, col, tail_codes, tail_scales);
    }
  }
  const float final_scale = 0.5f * b.tensor_scale;
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kColumns; ++col) {
      c[r * ldc + first_column + col] = SumLanes(acc[r][col]) * final_scale;
    }
  }
}

template <ScaleKind kKind, int kColumns>
void MultiplyRows(const WeightsView& b, const PreparedChunk* prepared, int64_t chunks,
                  int64_t rows, int64_t first_column, float* c, int64_t ldc) {
  ForEachRowTile<kRowTile>(rows, [&](auto tile_rows, int64_t r) {
    MultiplyTile<kKind, decltype(tile_rows)::value, kColumns>(b, prepared + r * chunks, chunks,
                                                              first_column, c + r * ldc, ldc);
  });
}

template <ScaleKind kKind>
void Multiply(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  const WeightsView& b = args.b;
  const int64_t chunks = (b.k + kChunk - 1) / kChunk;
  const int64_t row_block = args.m < kRowBlock ? args.m : kRowBlock;
  const size_t bytes = static_cast<size_t>(row_block * chunks) * sizeof(PreparedChunk);
  auto* prepared = static_cast<PreparedChunk*>(ThreadScratch(bytes));
  for (int64_t first_row = 0; first_row < args.m; first_row += row_block) {
    const int64_t rows = args.m - first_row < row_block ? args.m - first_row : row_block;
    PrepareActivations(args.a_int8, b.k, first_row, rows, chunks, prepared);
    float* c = args.c + first_row * args.ldc;
    ForEachColumnTile<kColumnTile>(n_begin, n_end, [&](auto columns, int64_t j) {
      MultiplyRows<kKind, decltype(columns)::value>(b, prepared, chunks, rows, j, c, args.ldc);
    });
  }
}

}  // namespace

void fp4_w4a8_4x2_avx2(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    Multiply<decltype(kind)::value>(args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
