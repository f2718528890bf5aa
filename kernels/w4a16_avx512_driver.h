#ifndef FP4MOE_KERNELS_W4A16_AVX512_DRIVER_H_
#define FP4MOE_KERNELS_W4A16_AVX512_DRIVER_H_

// The decoded way of the W4A16 AVX-512 kernels, for every 4-bit format: each tile of 4 columns
// decodes with its scales to BF16 (rounded to nearest even as the reference) one k chunk at a
// time into L1, and every 4 x 4 tile of a block of up to 64 rows reuses it with vdpbf16ps;
// code byte i sits in dword lane i, low nibble in the low word (kernels/avx512_helpers.h,
// DecodePair), as vdpbf16ps pairs activation elements 2i and 2i + 1, so activations are read
// as they are.
//
// In an anonymous namespace like the per-ISA helpers (see kernels/microkernel.bzl on the ODR
// trap): each kernel file instantiates its own copy. The format's part is a struct F with
//   static void DecodeWeights(const WeightsView& b, int64_t column, int64_t k0, int64_t length,
//                             uint16_t* target);
//       // `length` weights (a multiple of 16) of `column` from k0 as BF16 pairs into `target`,
//       // zero-padded to a multiple of 32

#include <cstdint>

#include "kernels/avx512_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"
#include "kernels/tile_loops.h"

namespace fp4moe::kernels {
namespace {

constexpr int kDecodedRowTile = 4;
constexpr int kDecodedColumnTile = 4;
// Rows sharing one decode of a column tile.
constexpr int64_t kDecodedRowBlock = 64;
// k elements decoded per column at a time (a multiple of 256): 4 KB for the tile, in L1.
constexpr int64_t kDecodeChunk = 512;

struct DecodeScratch {
  alignas(64) uint16_t weights[kDecodedColumnTile][kDecodeChunk];
  // The row block's accumulators across k chunks.
  alignas(64) float acc[kDecodedRowBlock][kDecodedColumnTile][16];
};
thread_local DecodeScratch decode_scratch;

// acc[r][col] (+)= kRows rows of A (from `a`, row stride lda) times the decoded chunk's
// kColumns columns, over `length` elements.
template <int kRows, int kColumns>
void MultiplyDecoded(const uint16_t* a, int64_t lda, int64_t length,
                     float (*acc)[kDecodedColumnTile][16], bool first_chunk) {
  __m512 sum[kRows][kColumns];
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kColumns; ++col) {
      sum[r][col] = first_chunk ? _mm512_setzero_ps() : _mm512_load_ps(acc[r][col]);
    }
  }
  const auto step = [&](int64_t l, auto load_activations) {
    __m512bh weights[kColumns];
    for (int col = 0; col < kColumns; ++col) {
      weights[col] = AsBf16(_mm512_load_si512(decode_scratch.weights[col] + l));
    }
    for (int r = 0; r < kRows; ++r) {
      const __m512bh activations = AsBf16(load_activations(a + r * lda + l));
      for (int col = 0; col < kColumns; ++col) {
        sum[r][col] = _mm512_dpbf16_ps(sum[r][col], activations, weights[col]);
      }
    }
  };
  int64_t l = 0;
  for (; l + 32 <= length; l += 32) {
    step(l, [](const uint16_t* p) { return _mm512_loadu_si512(p); });
  }
  if (l < length) {
    // 16 elements left at the end of k: only those activations exist.
    step(l, [](const uint16_t* p) {
      return _mm512_inserti64x4(_mm512_setzero_si512(),
                                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), 0);
    });
  }
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kColumns; ++col) _mm512_store_ps(acc[r][col], sum[r][col]);
  }
}

template <int kColumns>
void MultiplyDecodedRows(const uint16_t* a, int64_t lda, int64_t rows, int64_t length,
                         bool first_chunk) {
  ForEachRowTile<kDecodedRowTile>(rows, [&](auto tile_rows, int64_t r) {
    MultiplyDecoded<decltype(tile_rows)::value, kColumns>(a + r * lda, lda, length,
                                                          decode_scratch.acc + r, first_chunk);
  });
}

template <typename F, int kColumns>
void DecodedColumns(const GemmArgs& args, int64_t first_row, int64_t rows, int64_t first_column) {
  const int64_t k = args.b.k;
  const uint16_t* a = args.a_bf16.values + first_row * k;
  for (int64_t k0 = 0; k0 < k; k0 += kDecodeChunk) {
    const int64_t length = k - k0 < kDecodeChunk ? k - k0 : kDecodeChunk;
    for (int col = 0; col < kColumns; ++col) {
      F::DecodeWeights(args.b, first_column + col, k0, length, decode_scratch.weights[col]);
    }
    MultiplyDecodedRows<kColumns>(a + k0, k, rows, length, k0 == 0);
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* c = args.c + (first_row + r) * args.ldc + first_column;
    for (int col = 0; col < kColumns; ++col) {
      c[col] = HorizontalSum(_mm512_load_ps(decode_scratch.acc[r][col])) * args.b.tensor_scale;
    }
  }
}

// C[0:m, n_begin:n_end] the decoded way, for weights of the format F.
template <typename F>
void MultiplyDecodedW4a16(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  ForEachRowBlock(args.m, kDecodedRowBlock, [&](int64_t first_row, int64_t rows) {
    ForEachColumnTile<kDecodedColumnTile>(n_begin, n_end, [&](auto columns, int64_t j) {
      DecodedColumns<F, decltype(columns)::value>(args, first_row, rows, j);
    });
  });
}

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_W4A16_AVX512_DRIVER_H_
