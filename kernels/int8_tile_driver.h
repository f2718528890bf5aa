#ifndef FP4MOE_KERNELS_INT8_TILE_DRIVER_H_
#define FP4MOE_KERNELS_INT8_TILE_DRIVER_H_

// The driver loop of the 4-bit weight x int8 activation kernels that reorder the activations
// once per call (fp4_w4a8, int4_w4a8 on AVX2), for every ISA. Rows of A go in blocks (their
// prepared chunks stay in L2 while each column tile's codes stay in L1): each block is
// prepared into per-thread scratch, chunk by chunk (the last one from a zero-padded copy), then
// multiplied by every tile of rows x columns, k in chunks, the weights' last partial chunk from
// zero-padded copies. In an anonymous namespace like the per-ISA helpers (see
// kernels/microkernel.bzl on the ODR trap): each kernel file instantiates its own copy.
//
// The kernel's part is a struct `K` (an object of it is passed along; it may hold run-time
// state such as the group size) with
//   static constexpr int kRowTile, kColumnTile;  // the largest tile
//   static constexpr int64_t kChunk;             // elements per step, a multiple of 16
//   static constexpr int64_t kRowBlock;          // rows of A prepared per pass
//   static constexpr int64_t kScaleBytes;        // bytes of one weight scale
//   using Chunk;    // one prepared chunk of one row of A
//   using Weights;  // one chunk of one column of B, ready for Add
//   using Acc; static Acc Zero(); static float Sum(Acc);
//       // the float accumulator vector and its lanes' sum (Avx2Accumulator, Avx512Accumulator)
//   void PrepareChunk(const int8_t* values, const float* row_scales, int64_t begin,
//                     int64_t count, Chunk& out) const;
//       // values: the kChunk activations from element `begin` of a row (zero past `count`,
//       // which is kChunk but at the end of k); row_scales: that row's activation scales
//   int64_t ScaleOffset(int64_t chunk) const;  // bytes of a weight row's scales before chunk's
//   Weights LoadWeights(const uint8_t* codes, const uint8_t* scales) const;
//   static Acc Add(const Weights&, const Chunk&, Acc);  // acc + the chunk's scaled products
//   float OutputScale(const WeightsView&) const;        // what the sums are off by
// LoadWeights and Add run in the innermost loop: always_inline, so that the weights and the
// accumulators stay in registers.

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/microkernel.h"
#include "kernels/thread_scratch.h"
#include "kernels/tile_dispatch.h"
#include "kernels/tile_loops.h"

namespace fp4moe::kernels {
namespace {

// The activation scales of the kBlocks blocks of 16 elements from element `begin` of a row whose
// scales (one per 16 elements, the E2M1 formats' block) start at `row_scales`, zero past
// `count` elements: read in place, or from a padded copy in `padded`.
template <int64_t kBlocks>
const float* BlockScalesOfChunk(const float* row_scales, int64_t begin, int64_t count,
                                float (&padded)[kBlocks]) {
  return ZeroPaddedIfShort(row_scales + begin / 16, count / 16, padded);
}

// Prepares `rows` rows of A from `first_row` into `chunks` chunks each, row r's at
// out + r * chunks.
template <typename K>
void PrepareInt8Rows(const K& kernel, const Int8ActivationsView& a, int64_t k, int64_t first_row,
                     int64_t rows, int64_t chunks, typename K::Chunk* out) {
  const int64_t groups = k / a.group;
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t* values = a.values + (first_row + r) * k;
    const float* scales = a.scales + (first_row + r) * groups;
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t begin = c * K::kChunk;
      const int64_t count = k - begin < K::kChunk ? k - begin : K::kChunk;
      alignas(64) int8_t padded[K::kChunk];
      kernel.PrepareChunk(ZeroPaddedIfShort(values + begin, count, padded), scales, begin, count,
                          out[r * chunks + c]);
    }
  }
}

// C[rows, columns] for kRows prepared rows (row r's chunks at prepared + r * chunks) and
// kColumns columns of B from `first_column` (of a slice that ends at n_end).
template <typename K, int kRows, int kColumns>
void MultiplyInt8Tile(const K& kernel, const WeightsView& b, const typename K::Chunk* prepared,
                      int64_t chunks, int64_t first_column, int64_t n_end, float* c,
                      int64_t ldc) {
  constexpr int64_t kChunkBytes = K::kChunk / 2;
  const WeightColumns<kColumns> columns(b, first_column, K::kScaleBytes);
  const NextRowsPrefetch<kColumns> next_rows(b, first_column, n_end);
  const int64_t full_chunks = b.k / K::kChunk;
  typename K::Acc acc[kRows][kColumns];
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kColumns; ++col) acc[r][col] = K::Zero();
  }
  const auto multiply_chunk = [&](int64_t chunk, int col, const uint8_t* chunk_codes,
                                  const uint8_t* chunk_scales) {
    const typename K::Weights weights = kernel.LoadWeights(chunk_codes, chunk_scales);
    for (int r = 0; r < kRows; ++r) {
      acc[r][col] = K::Add(weights, prepared[r * chunks + chunk], acc[r][col]);
    }
  };
  for (int64_t chunk = 0; chunk < full_chunks; ++chunk) {
    next_rows.At(chunk * kChunkBytes, kChunkBytes);
    for (int col = 0; col < kColumns; ++col) {
      multiply_chunk(chunk, col, columns.codes[col] + chunk * kChunkBytes,
                     columns.scales[col] + kernel.ScaleOffset(chunk));
    }
  }
  if (full_chunks < chunks) {
    // The last partial chunk (the prepared activations and their scales are zero past k).
    const int64_t tail_bytes = (b.k - full_chunks * K::kChunk) / 2;
    const int64_t scale_offset = kernel.ScaleOffset(full_chunks);
    const int64_t tail_scale_bytes = b.k / b.block * K::kScaleBytes - scale_offset;
    for (int col = 0; col < kColumns; ++col) {
      // Scales: at most one per 16 elements, of at most 4 bytes.
      const PaddedChunk<kChunkBytes, K::kChunk / 16 * 4> tail(
          columns.codes[col] + full_chunks * kChunkBytes, tail_bytes,
          columns.scales[col] + scale_offset, tail_scale_bytes);
      multiply_chunk(full_chunks, col, tail.codes, tail.scales);
    }
  }
  const float output_scale = kernel.OutputScale(b);
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kColumns; ++col) {
      c[r * ldc + first_column + col] = K::Sum(acc[r][col]) * output_scale;
    }
  }
}

// The row tiles of `rows` prepared rows x kColumns columns from `first_column`.
template <typename K, int kColumns>
void MultiplyInt8Rows(const K& kernel, const WeightsView& b, const typename K::Chunk* prepared,
                      int64_t chunks, int64_t rows, int64_t first_column, int64_t n_end,
                      float* c, int64_t ldc) {
  ForEachRowTile<K::kRowTile>(rows, [&](auto tile_rows, int64_t r) {
    MultiplyInt8Tile<K, decltype(tile_rows)::value, kColumns>(
        kernel, b, prepared + r * chunks, chunks, first_column, n_end, c + r * ldc, ldc);
  });
}

// The kernel's entry point (once its scale kind is known): C[:, n_begin..n_end).
template <typename K>
void MultiplyInt8(const K& kernel, const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  const WeightsView& b = args.b;
  const int64_t chunks = (b.k + K::kChunk - 1) / K::kChunk;
  const int64_t row_block = args.m < K::kRowBlock ? args.m : K::kRowBlock;
  const size_t bytes = static_cast<size_t>(row_block * chunks) * sizeof(typename K::Chunk);
  auto* prepared = static_cast<typename K::Chunk*>(ThreadScratch(bytes));
  ForEachRowBlock(args.m, row_block, [&](int64_t first_row, int64_t rows) {
    PrepareInt8Rows(kernel, args.a_int8, b.k, first_row, rows, chunks, prepared);
    float* c = args.c + first_row * args.ldc;
    ForEachColumnTile<K::kColumnTile>(n_begin, n_end, [&](auto columns, int64_t j) {
      MultiplyInt8Rows<K, decltype(columns)::value>(kernel, b, prepared, chunks, rows, j, n_end,
                                                    c, args.ldc);
    });
  });
}

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_INT8_TILE_DRIVER_H_
