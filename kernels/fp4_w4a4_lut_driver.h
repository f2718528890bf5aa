#ifndef FP4MOE_KERNELS_FP4_W4A4_LUT_DRIVER_H_
#define FP4MOE_KERNELS_FP4_W4A4_LUT_DRIVER_H_

// The driver loop of the fp4_w4a4_lut kernels, for every ISA: tiles of rows of A x columns of
// B, columns outer (a tile's columns of B stay in L1 while every row tile of A passes by); k in
// chunks of whole 16-element blocks, the last partial chunk from zero-padded copies of both
// operands. In an anonymous namespace like the per-ISA helpers (see kernels/microkernel.bzl on
// the ODR trap): each kernel file instantiates its own copy.
//
// The ISA's part is a struct `Lut` with
//   static constexpr int kTileRows, kTileCols;  // the largest tile
//   static constexpr int64_t kChunk;            // elements per step, a multiple of 16
//   static constexpr float kOutputScale;        // what the accumulated products are off by
//   using Acc; static Acc Zero(); static float Sum(Acc);
//       // the float accumulator vector and its lanes' sum (Avx2Accumulator, Avx512Accumulator)
//   template <int kRows, int kCols>
//   static void MultiplyChunk(const LutChunk<kRows, kCols>&, ScaleKind, Acc (&)[kRows][kCols]);
// where MultiplyChunk adds one chunk's block products, scaled by both block scales, to acc.

#include <cstdint>

#include "kernels/block_scale.h"
#include "kernels/microkernel.h"
#include "kernels/tile_dispatch.h"
#include "kernels/tile_loops.h"

namespace fp4moe::kernels {
namespace {

// Pointers to one chunk of each row of A and each column of B in a tile: codes (two per byte)
// and block scales (E4M3 for A; the weights' kind for B).
template <int kRows, int kCols>
struct LutChunk {
  const uint8_t* a_codes[kRows];
  const uint8_t* a_scales[kRows];
  const uint8_t* b_codes[kCols];
  const uint8_t* b_scales[kCols];
};

// C[row0.., col0..] for a tile of kRows rows of A x kCols columns of B (of a slice that ends at
// n_end).
template <typename Lut, int kRows, int kCols>
void LutTile(const GemmArgs& args, int64_t row0, int64_t col0, int64_t n_end) {
  constexpr int64_t kBlock = 16;
  constexpr int64_t kChunkBytes = Lut::kChunk / 2;
  constexpr int64_t kChunkBlocks = Lut::kChunk / kBlock;
  const WeightsView& b = args.b;
  const int64_t row_bytes = b.k / 2;
  const int64_t blocks = b.k / kBlock;
  const int64_t b_scale_bytes = ScaleBytes(b.scale_kind);
  typename Lut::Acc acc[kRows][kCols];
  for (int i = 0; i < kRows; ++i) {
    for (int j = 0; j < kCols; ++j) acc[i][j] = Lut::Zero();
  }
  LutChunk<kRows, kCols> in;
  const NextRowsPrefetch<kCols> next_rows(b, col0, n_end);
  const int64_t full_chunks = b.k / Lut::kChunk;
  for (int64_t c = 0; c < full_chunks; ++c) {
    next_rows.At(c * kChunkBytes, kChunkBytes);
    for (int i = 0; i < kRows; ++i) {
      in.a_codes[i] = args.a_fp4.codes + (row0 + i) * row_bytes + c * kChunkBytes;
      in.a_scales[i] = args.a_fp4.scales + (row0 + i) * blocks + c * kChunkBlocks;
    }
    for (int j = 0; j < kCols; ++j) {
      in.b_codes[j] = b.codes + (col0 + j) * row_bytes + c * kChunkBytes;
      in.b_scales[j] = b.scales + ((col0 + j) * blocks + c * kChunkBlocks) * b_scale_bytes;
    }
    Lut::MultiplyChunk(in, b.scale_kind, acc);
  }
  if (const int64_t tail_blocks = blocks - full_chunks * kChunkBlocks; tail_blocks > 0) {
    // The last partial chunk, copied into zero padding: zero codes have zero products and zero
    // scales keep the padding's lanes at zero.
    PaddedChunk<kChunkBytes, kChunkBlocks * 4> a_tail[kRows], b_tail[kCols];
    const int64_t tail_bytes = tail_blocks * kBlock / 2;
    const int64_t offset = full_chunks * kChunkBytes;
    const int64_t block_offset = full_chunks * kChunkBlocks;
    for (int i = 0; i < kRows; ++i) {
      a_tail[i].Copy(args.a_fp4.codes + (row0 + i) * row_bytes + offset, tail_bytes,
                     args.a_fp4.scales + (row0 + i) * blocks + block_offset, tail_blocks);
      in.a_codes[i] = a_tail[i].codes;
      in.a_scales[i] = a_tail[i].scales;
    }
    for (int j = 0; j < kCols; ++j) {
      b_tail[j].Copy(b.codes + (col0 + j) * row_bytes + offset, tail_bytes,
                     b.scales + ((col0 + j) * blocks + block_offset) * b_scale_bytes,
                     tail_blocks * b_scale_bytes);
      in.b_codes[j] = b_tail[j].codes;
      in.b_scales[j] = b_tail[j].scales;
    }
    Lut::MultiplyChunk(in, b.scale_kind, acc);
  }
  const float output_scale = Lut::kOutputScale * b.tensor_scale * args.a_fp4.tensor_scale;
  for (int i = 0; i < kRows; ++i) {
    for (int j = 0; j < kCols; ++j) {
      args.c[(row0 + i) * args.ldc + col0 + j] = Lut::Sum(acc[i][j]) * output_scale;
    }
  }
}

// The kernel's entry point: C[:, n_begin..n_end) in tiles of at most Lut::kTileRows x
// Lut::kTileCols.
template <typename Lut>
void LutGemm(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  for (int64_t col0 = n_begin; col0 < n_end; col0 += Lut::kTileCols) {
    const int64_t cols = n_end - col0 < Lut::kTileCols ? n_end - col0 : Lut::kTileCols;
    DispatchCount<Lut::kTileCols>(cols, [&](auto tile_cols) {
      ForEachRowTile<Lut::kTileRows>(args.m, [&](auto tile_rows, int64_t row0) {
        LutTile<Lut, decltype(tile_rows)::value, decltype(tile_cols)::value>(args, row0, col0,
                                                                             n_end);
      });
    });
  }
}

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_FP4_W4A4_LUT_DRIVER_H_
