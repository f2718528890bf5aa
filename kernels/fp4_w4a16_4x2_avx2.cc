// E2M1 weights x BF16 activations with AVX2 + FMA; tiles of 4 rows of A x 2 columns of B.
//
// A 16-element block is 8 code bytes and 16 BF16 activations. Read as 8 dwords, the
// activations give their even elements by a shift left of 16 and their odd ones by masking the
// low half: float lane d holds elements 2d and 2d + 1, exactly the low and high nibble of code
// byte d. Each nibble becomes a float by vpermps from the 8 E2M1 magnitudes times the block
// scale (vpermps reads only the low 3 bits of its index, so no masking) and an XOR of the sign
// bit. For float32 scales the table is rounded to BF16 first, as the scalar reference rounds
// each decoded weight; E4M3 and E8M0 products are exact.
#include <cstdint>
#include <cstring>

#include "kernels/avx2_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"
#include "kernels/tile_loops.h"

namespace fp4moe::kernels {
namespace {

constexpr int kRowTile = 4;
constexpr int kColumnTile = 2;
constexpr int64_t kChunk = 128;  // elements per step: 8 blocks, whose scales decode together
constexpr int64_t kChunkBlocks = kChunk / 16;
// Rows of A multiplied per pass over the columns, so that they stay in L2 while each column
// tile's codes stay in L1.
constexpr int64_t kRowBlock = 32;

// Round to nearest even on the bits, as FloatToBf16 does (the values are finite).
__m256 RoundToBf16(__m256 v) {
  const __m256i bits = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF)));
  return _mm256_castsi256_ps(
      _mm256_and_si256(rounded, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))));
}

// The 8 block scales of a chunk into `out` (one-byte kinds; float32 scales are read in place).
template <ScaleKind kKind>
void DecodeBlockScales(const uint8_t* scales, float* out) {
  const __m256i codes = WidenBytes(scales);
  _mm256_store_ps(out, kKind == ScaleKind::kE4M3 ? DecodeE4M3(codes) : DecodeE8M0(codes));
}

// C[rows, columns] for kRows rows of A (BF16, row stride k) and kColumns columns from
// `first_column`.
template <ScaleKind kKind, int kRows, int kColumns>
void MultiplyTile(const WeightsView& b, const uint16_t* a, float* c, int64_t ldc,
                  int64_t first_column) {
  constexpr int64_t kScaleBytes = kKind == ScaleKind::kFloat32 ? 4 : 1;
  const __m256 magnitudes = _mm256_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f);
  const __m256i sign_bit = _mm256_set1_epi32(INT32_MIN);
  const __m256i high_half = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
  const int64_t blocks = b.k / 16;
  const WeightColumns<kColumns> columns(b, first_column, kScaleBytes);
  __m256 acc[kRows][kColumns];
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kColumns; ++col) acc[r][col] = _mm256_setzero_ps();
  }
  for (int64_t first_block = 0; first_block < blocks; first_block += kChunkBlocks) {
    const int64_t chunk_blocks =
        blocks - first_block < kChunkBlocks ? blocks - first_block : kChunkBlocks;
    alignas(32) float block_scales[kColumns][kChunkBlocks];
    if constexpr (kKind != ScaleKind::kFloat32) {
      for (int col = 0; col < kColumns; ++col) {
        const uint8_t* chunk_scales = columns.scales[col] + first_block;
        alignas(8) uint8_t tail_scales[kChunkBlocks] = {};
        if (chunk_blocks < kChunkBlocks) {
          // Fewer than 8 blocks remain: a padded copy, so nothing past the row is read.
          std::memcpy(tail_scales, chunk_scales, chunk_blocks);
          chunk_scales = tail_scales;
        }
        DecodeBlockScales<kKind>(chunk_scales, block_scales[col]);
      }
    }
    for (int64_t blk = 0; blk < chunk_blocks; ++blk) {
      const int64_t block = first_block + blk;
      __m256 even[kColumns];
      __m256 odd[kColumns];
      for (int col = 0; col < kColumns; ++col) {
        __m256 scale;
        if constexpr (kKind == ScaleKind::kFloat32) {
          scale = _mm256_broadcast_ss(reinterpret_cast<const float*>(columns.scales[col]) + block);
        } else {
          scale = _mm256_broadcast_ss(&block_scales[col][blk]);
        }
        __m256 table = _mm256_mul_ps(magnitudes, scale);
        if constexpr (kKind == ScaleKind::kFloat32) table = RoundToBf16(table);
        const __m256i packed = _mm256_cvtepu8_epi32(
            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(columns.codes[col] + 8 * block)));
        even[col] = _mm256_xor_ps(
            _mm256_permutevar8x32_ps(table, packed),
            _mm256_castsi256_ps(_mm256_and_si256(_mm256_slli_epi32(packed, 28), sign_bit)));
        odd[col] = _mm256_xor_ps(
            _mm256_permutevar8x32_ps(table, _mm256_srli_epi32(packed, 4)),
            _mm256_castsi256_ps(_mm256_and_si256(_mm256_slli_epi32(packed, 24), sign_bit)));
      }
      for (int r = 0; r < kRows; ++r) {
        const __m256i pairs =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + r * b.k + 16 * block));
        const __m256 a_even = _mm256_castsi256_ps(_mm256_slli_epi32(pairs, 16));
        const __m256 a_odd = _mm256_castsi256_ps(_mm256_and_si256(pairs, high_half));
        for (int col = 0; col < kColumns; ++col) {
          acc[r][col] = _mm256_fmadd_ps(even[col], a_even, acc[r][col]);
          acc[r][col] = _mm256_fmadd_ps(odd[col], a_odd, acc[r][col]);
        }
      }
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kColumns; ++col) {
      c[r * ldc + first_column + col] = SumLanes(acc[r][col]) * b.tensor_scale;
    }
  }
}

template <ScaleKind kKind, int kColumns>
void MultiplyRows(const GemmArgs& args, int64_t first_row, int64_t rows, int64_t first_column) {
  const int64_t k = args.b.k;
  ForEachRowTile<kRowTile>(rows, [&](auto tile_rows, int64_t r) {
    MultiplyTile<kKind, decltype(tile_rows)::value, kColumns>(
        args.b, args.a_bf16.values + (first_row + r) * k, args.c + (first_row + r) * args.ldc,
        args.ldc, first_column);
  });
}

template <ScaleKind kKind>
void Multiply(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  ForEachRowBlock(args.m, kRowBlock, [&](int64_t first_row, int64_t rows) {
    ForEachColumnTile<kColumnTile>(n_begin, n_end, [&](auto columns, int64_t j) {
      MultiplyRows<kKind, decltype(columns)::value>(args, first_row, rows, j);
    });
  });
}

}  // namespace

void fp4_w4a16_4x2_avx2(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    Multiply<decltype(kind)::value>(args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
