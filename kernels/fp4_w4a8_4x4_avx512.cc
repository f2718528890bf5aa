// E2M1 weights x int8 activations with AVX-512 VNNI; tiles of 4 rows of A x 4 columns of B.
//
// A 64-byte load of codes holds 128 elements (8 blocks): its low nibbles are the even elements,
// its high nibbles the odd ones. Rather than interleave the weights, each call reorders the
// activations once into the same even/odd order, so every code byte needs at most a shift and one
// vpermb. vpdpbusd multiplies unsigned by signed bytes: the table yields
// w + 12 (0..24, unsigned) and the activation rows carry -12 x their sums as the dot products'
// starting value, which keeps every block sum an exact int32. Dword lane L of either half
// covers elements 8L..8L+7, i.e. block L / 2, so both halves add into one accumulator whose
// lanes are then scaled per block in float.
#include <cstring>

#include "kernels/avx512_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/thread_scratch.h"
#include "kernels/tile_dispatch.h"

namespace fp4moe::kernels {
namespace {

constexpr int kRowTile = 4;
constexpr int kColumnTile = 4;
constexpr int kChunk = 128;              // elements per step: 64 code bytes, 8 blocks
constexpr int kChunkBlocks = kChunk / 16;
// Rows of A prepared and multiplied per pass over the columns: their prepared chunks (2 bytes
// per element) stay in L2 while each column tile's codes stay in L1.
constexpr int64_t kRowBlock = 64;
constexpr int kWeightOffset = 12;  // table entries are 2 x E2M1 + 12

// One chunk of a prepared activation row: even and odd elements, the dot products' starting
// value and the activation scales, each laid out per dword lane of the accumulator.
struct alignas(64) PreparedChunk {
  int8_t even[64];
  int8_t odd[64];
  int32_t offset_correction[16];  // -12 x the sum of the elements lane L multiplies
  float scale[16];                // the scale of block L / 2
};

// Indices that spread 8 values over 16 lanes, lane L taking value L / 2.
__m512i PairedLaneIndex() {
  return _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
}

// 8 one-byte scales, byte L / 2 placed in the top byte of dword lane L, the rest zero.
__m512i ScaleBytesInTopByte(const uint8_t* scales) {
  uint64_t bytes;
  std::memcpy(&bytes, scales, sizeof bytes);
  const __m512i index = _mm512_set_epi32(7 << 24, 7 << 24, 6 << 24, 6 << 24, 5 << 24, 5 << 24,
                                         4 << 24, 4 << 24, 3 << 24, 3 << 24, 2 << 24, 2 << 24,
                                         1 << 24, 1 << 24, 0, 0);
  return _mm512_maskz_permutexvar_epi8(0x8888888888888888ull, index,
                                       _mm512_castsi128_si512(_mm_cvtsi64_si128(bytes)));
}

// The 8 weight block scales of a chunk, lane L holding block L / 2's.
template <ScaleKind kKind>
__m512 LoadChunkScales(const uint8_t* scales) {
  if constexpr (kKind == ScaleKind::kFloat32) {
    return _mm512_permutexvar_ps(PairedLaneIndex(),
                                 _mm512_castps256_ps512(_mm256_loadu_ps(
                                     reinterpret_cast<const float*>(scales))));
  } else {
    return DecodeTopByteScales<kKind>(ScaleBytesInTopByte(scales));
  }
}

// Reorders `rows` rows of A (from row `first_row`) into chunks; the last chunk is zero-padded.
void PrepareActivations(const Int8ActivationsView& a, int64_t k, int64_t first_row,
                        int64_t rows, int64_t chunks, PreparedChunk* out) {
  const __m512i even_index = _mm512_set_epi8(
      126, 124, 122, 120, 118, 116, 114, 112, 110, 108, 106, 104, 102, 100, 98, 96, 94, 92, 90,
      88, 86, 84, 82, 80, 78, 76, 74, 72, 70, 68, 66, 64, 62, 60, 58, 56, 54, 52, 50, 48, 46, 44,
      42, 40, 38, 36, 34, 32, 30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd_index = _mm512_add_epi8(even_index, _mm512_set1_epi8(1));
  const __m512i offset = _mm512_set1_epi8(kWeightOffset);
  const int64_t blocks = k / 16;
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t* values = a.values + (first_row + r) * k;
    const float* scales = a.scales + (first_row + r) * blocks;
    for (int64_t c = 0; c < chunks; ++c) {
      PreparedChunk& chunk = out[r * chunks + c];
      const int64_t begin = c * kChunk;
      const int64_t count = k - begin < kChunk ? k - begin : kChunk;
      alignas(64) int8_t padded_values[kChunk] = {};
      alignas(32) float padded_scales[kChunkBlocks] = {};
      std::memcpy(padded_values, values + begin, count);
      std::memcpy(padded_scales, scales + begin / 16, count / 16 * sizeof(float));
      const __m512i low = _mm512_load_si512(padded_values);
      const __m512i high = _mm512_load_si512(padded_values + 64);
      const __m512i even = _mm512_permutex2var_epi8(low, even_index, high);
      const __m512i odd = _mm512_permutex2var_epi8(low, odd_index, high);
      const __m512i offset_sum =
          _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), offset, even), offset, odd);
      _mm512_store_si512(chunk.even, even);
      _mm512_store_si512(chunk.odd, odd);
      _mm512_store_si512(chunk.offset_correction,
                         _mm512_sub_epi32(_mm512_setzero_si512(), offset_sum));
      _mm512_store_ps(chunk.scale, _mm512_permutexvar_ps(
                                       PairedLaneIndex(),
                                       _mm512_castps256_ps512(_mm256_load_ps(padded_scales))));
    }
  }
}

// C[rows, columns] for kRows prepared rows and kColumns columns from `first_column`.
template <ScaleKind kKind, int kRows, int kColumns>
void MultiplyTile(const WeightsView& b, const PreparedChunk* prepared, int64_t chunks,
                  int64_t first_column, float* c, int64_t ldc) {
  constexpr int kScaleBytes = kKind == ScaleKind::kFloat32 ? 4 : 1;
  // vpermb reads 6 index bits: the table repeated 4 times ignores the 2 bits above the nibble,
  // so neither nibble needs masking.
  const __m512i table = _mm512_broadcast_i32x4(
      _mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
  const int64_t code_bytes = b.k / 2;
  const int64_t blocks = b.k / 16;
  const int64_t full_chunks = b.k / kChunk;
  const uint8_t* codes[kColumns];
  const uint8_t* scales[kColumns];
  for (int col = 0; col < kColumns; ++col) {
    codes[col] = b.codes + (first_column + col) * code_bytes;
    scales[col] = b.scales + (first_column + col) * blocks * kScaleBytes;
  }
  __m512 acc[kRows][kColumns];
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kColumns; ++col) acc[r][col] = _mm512_setzero_ps();
  }
  const auto multiply_chunk = [&](int64_t chunk, int col, const uint8_t* chunk_codes,
                                  const uint8_t* chunk_scales) {
    const __m512i packed = _mm512_loadu_si512(chunk_codes);
    const __m512i even_weights = _mm512_permutexvar_epi8(packed, table);
    const __m512i odd_weights = _mm512_permutexvar_epi8(_mm512_srli_epi16(packed, 4), table);
    const __m512 weight_scales = LoadChunkScales<kKind>(chunk_scales);
    for (int r = 0; r < kRows; ++r) {
      const PreparedChunk& a = prepared[r * chunks + chunk];
      __m512i dot = _mm512_load_si512(a.offset_correction);
      dot = _mm512_dpbusd_epi32(dot, even_weights, _mm512_load_si512(a.even));
      dot = _mm512_dpbusd_epi32(dot, odd_weights, _mm512_load_si512(a.odd));
      acc[r][col] = _mm512_fmadd_ps(Int32ToFloat(dot),
                                    _mm512_mul_ps(weight_scales, _mm512_load_ps(a.scale)),
                                    acc[r][col]);
    }
  };
  for (int64_t chunk = 0; chunk < full_chunks; ++chunk) {
    for (int col = 0; col < kColumns; ++col) {
      multiply_chunk(chunk, col, codes[col] + chunk * (kChunk / 2),
                     scales[col] + chunk * kChunkBlocks * kScaleBytes);
    }
  }
  if (full_chunks < chunks) {
    // k % 128 elements remain: copies padded with zero codes and scales finish the row.
    const int64_t tail_blocks = blocks - full_chunks * kChunkBlocks;
    for (int col = 0; col < kColumns; ++col) {
      alignas(64) uint8_t tail_codes[kChunk / 2] = {};
      alignas(32) uint8_t tail_scales[kChunkBlocks * 4] = {};
      std::memcpy(tail_codes, codes[col] + full_chunks * (kChunk / 2), tail_blocks * 8);
      std::memcpy(tail_scales, scales[col] + full_chunks * kChunkBlocks * kScaleBytes,
                  tail_blocks * kScaleBytes);
      multiply_chunk(full_chunks, col, tail_codes, tail_scales);
    }
  }
  const float final_scale = 0.5f * b.tensor_scale;
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kColumns; ++col) {
      c[r * ldc + first_column + col] = HorizontalSum(acc[r][col]) * final_scale;
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

void FP4MOE_MICROKERNEL(fp4_w4a8_4x4_avx512)(const GemmArgs& args, int64_t n_begin,
                                               int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    Multiply<decltype(kind)::value>(args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
