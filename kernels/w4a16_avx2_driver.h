#ifndef FP4MOE_KERNELS_W4A16_AVX2_DRIVER_H_
#define FP4MOE_KERNELS_W4A16_AVX2_DRIVER_H_

// The driver of the W4A16 AVX2 + FMA kernels, for every 4-bit format; tiles of 4 rows of A x 2
// columns of B. A run of 16 k is 8 code bytes and 16 BF16 activations. Read as 8 dwords, the
// activations give their even elements by a shift left of 16 and their odd ones by masking the
// low half: float lane d holds elements 2d and 2d + 1, exactly the low and high nibble of code
// byte d, which the format decodes to floats (its value x scale, rounded as its reference).
//
// In an anonymous namespace like the per-ISA helpers (see kernels/microkernel.bzl on the ODR
// trap): each kernel file instantiates its own copy. The format's part is a struct F with
//   static void ChunkScales(const WeightsView& b, int64_t column, int64_t first_run,
//                           int64_t runs, float* out);
//       // the scales of runs [first_run, first_run + runs) (at most kChunkRuns) of 16 k of
//       // `column`, into out[0 .. runs)
//   static void Decode(float scale, __m256i codes, __m256& even, __m256& odd);
//       // codes: one code byte per dword lane; even, odd: its low and high nibble decoded

#include <cstdint>

#include "kernels/avx2_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"
#include "kernels/tile_loops.h"

namespace fp4moe::kernels {
namespace {

constexpr int kRowTile = 4;
constexpr int kColumnTile = 2;
constexpr int64_t kChunkRuns = 8;  // runs of 16 k per step, whose scales decode together
// Rows of A multiplied per pass over the columns, so that they stay in L2 while each column
// tile's codes stay in L1.
constexpr int64_t kRowBlock = 32;

// C[rows, columns] for kRows rows of A (BF16, row stride k) and kColumns columns from
// `first_column`.
template <typename F, int kRows, int kColumns>
void MultiplyTile(const WeightsView& b, const uint16_t* a, float* c, int64_t ldc,
                  int64_t first_column) {
  const __m256i high_half = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
  const int64_t runs = b.k / 16;
  const uint8_t* codes[kColumns];
  for (int col = 0; col < kColumns; ++col) codes[col] = b.codes + (first_column + col) * (b.k / 2);
  __m256 acc[kRows][kColumns];
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kColumns; ++col) acc[r][col] = _mm256_setzero_ps();
  }
  for (int64_t first_run = 0; first_run < runs; first_run += kChunkRuns) {
    const int64_t chunk_runs = runs - first_run < kChunkRuns ? runs - first_run : kChunkRuns;
    alignas(32) float scales[kColumns][kChunkRuns];
    for (int col = 0; col < kColumns; ++col) {
      F::ChunkScales(b, first_column + col, first_run, chunk_runs, scales[col]);
    }
    for (int64_t i = 0; i < chunk_runs; ++i) {
      const int64_t run = first_run + i;
      __m256 even[kColumns];
      __m256 odd[kColumns];
      for (int col = 0; col < kColumns; ++col) {
        F::Decode(scales[col][i], WidenBytes(codes[col] + 8 * run), even[col], odd[col]);
      }
      for (int r = 0; r < kRows; ++r) {
        const __m256i pairs =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + r * b.k + 16 * run));
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

template <typename F, int kColumns>
void MultiplyRows(const GemmArgs& args, int64_t first_row, int64_t rows, int64_t first_column) {
  const int64_t k = args.b.k;
  ForEachRowTile<kRowTile>(rows, [&](auto tile_rows, int64_t r) {
    MultiplyTile<F, decltype(tile_rows)::value, kColumns>(
        args.b, args.a_bf16.values + (first_row + r) * k, args.c + (first_row + r) * args.ldc,
        args.ldc, first_column);
  });
}

// C[0:m, n_begin:n_end] for weights of the format F (k a multiple of 16).
template <typename F>
void MultiplyW4a16Avx2(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  ForEachRowBlock(args.m, kRowBlock, [&](int64_t first_row, int64_t rows) {
    ForEachColumnTile<kColumnTile>(n_begin, n_end, [&](auto columns, int64_t j) {
      MultiplyRows<F, decltype(columns)::value>(args, first_row, rows, j);
    });
  });
}

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_W4A16_AVX2_DRIVER_H_
