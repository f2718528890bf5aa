#ifndef FP4MOE_KERNELS_INT8_TILE_DRIVER_H_
#define FP4MOE_KERNELS_INT8_TILE_DRIVER_H_

// The driver loop of the 4-bit weight x int8 activation kernels that reorder the activations
// once per call (fp4_w4a8, int4_w4a8 on AVX2), for every ISA. Rows of A go in blocks (their
// prepared chunks stay in L2 while each column tile's codes stay in L1): each block is
// prepared into per-thread scratch, chunk by chunk (the last one from a zero-padded copy), then
// multiplied by every tile of rows x columns, k in chunks, the weights' last partial chunk from
// zero-padded copies. A block of many row tiles decodes each column tile's weights once into
// scratch, which every row tile then loads (see DecodedWeights). In an anonymous namespace like
// the per-ISA helpers (see kernels/microkernel.bzl on the ODR trap): each kernel file
// instantiates its own copy.
//
// The kernel's part is a struct `K` (an object of it is passed along; it may hold run-time
// state such as the group size) with
//   static constexpr int kRowTile, kColumnTile;  // the largest tile
//   static constexpr int64_t kChunk;             // elements per step, a multiple of 16
//   static constexpr int64_t kRowBlock;          // rows of A prepared per pass
//   static constexpr int64_t kScaleBytes;        // bytes of one weight scale
//   using Chunk;    // one prepared chunk of one row of A
//   using Weights;  // one chunk of one column of B, ready for Add (kept in scratch: vectors)
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

// The rows of A by blocks of at most K::kRowBlock, each prepared (PrepareInt8Rows) into the
// start of the thread's scratch before `block(first_row, rows, prepared)` multiplies it; the
// scratch holds `extra_bytes` more after the prepared chunks (extra()), from a line boundary.
template <typename K>
class PreparedRowBlocks {
 public:
  static int64_t RowBlock(int64_t m) { return m < K::kRowBlock ? m : K::kRowBlock; }

  PreparedRowBlocks(const GemmArgs& args, int64_t chunks, size_t extra_bytes)
      : args_(args),
        chunks_(chunks),
        prepared_bytes_((static_cast<size_t>(RowBlock(args.m) * chunks) *
                             sizeof(typename K::Chunk) +
                         63) /
                        64 * 64),
        scratch_(static_cast<char*>(ThreadScratch(prepared_bytes_ + extra_bytes))) {}

  char* extra() const { return scratch_ + prepared_bytes_; }

  template <typename Block>
  void ForEach(const K& kernel, Block&& block) const {
    auto* prepared = reinterpret_cast<typename K::Chunk*>(scratch_);
    ForEachRowBlock(args_.m, RowBlock(args_.m), [&](int64_t first_row, int64_t rows) {
      PrepareInt8Rows(kernel, args_.a_int8, args_.b.k, first_row, rows, chunks_, prepared);
      block(first_row, rows, static_cast<const typename K::Chunk*>(prepared));
    });
  }

 private:
  const GemmArgs& args_;
  int64_t chunks_;
  size_t prepared_bytes_;
  char* scratch_;
};

// Where a tile's weights come from: decoded from B as the tile runs...
template <typename K, int kColumns>
class DecodingWeights {
 public:
  DecodingWeights(const K& kernel, const WeightsView& b, int64_t first_column, int64_t n_end)
      : kernel_(kernel),
        b_(b),
        columns_(b, first_column, K::kScaleBytes),
        next_rows_(b, first_column, n_end) {}

  // Before the chunk's weights: the next column tile's codes of that chunk, into L2.
  void StartChunk(int64_t chunk) const { next_rows_.At(chunk * kChunkBytes, kChunkBytes); }

  // Chunk `chunk` (whole, before the last partial one) of column `col`.
  [[gnu::always_inline]] typename K::Weights Full(int64_t chunk, int col) const {
    return kernel_.LoadWeights(columns_.codes[col] + chunk * kChunkBytes,
                               columns_.scales[col] + kernel_.ScaleOffset(chunk));
  }

  // The last, partial chunk (the prepared activations and their scales are zero past k), from
  // zero-padded copies.
  typename K::Weights Tail(int64_t chunk, int col) const {
    const int64_t tail_bytes = (b_.k - chunk * K::kChunk) / 2;
    const int64_t scale_offset = kernel_.ScaleOffset(chunk);
    const int64_t tail_scale_bytes = b_.k / b_.block * K::kScaleBytes - scale_offset;
    // Scales: at most one per 16 elements, of at most 4 bytes.
    const PaddedChunk<kChunkBytes, K::kChunk / 16 * 4> tail(
        columns_.codes[col] + chunk * kChunkBytes, tail_bytes,
        columns_.scales[col] + scale_offset, tail_scale_bytes);
    return kernel_.LoadWeights(tail.codes, tail.scales);
  }

 private:
  static constexpr int64_t kChunkBytes = K::kChunk / 2;
  const K& kernel_;
  const WeightsView& b_;
  WeightColumns<kColumns> columns_;
  NextRowsPrefetch<kColumns> next_rows_;
};

// ... or, for a block of many row tiles, decoded once per column tile into scratch (chunk by
// chunk, the columns' weights of a chunk side by side) and loaded back by each row tile: the
// decode (byte lookups, scale conversion) then runs once per weight, not once per row tile.
template <typename K, int kColumns>
class DecodedWeights {
 public:
  // Decodes every chunk of the column tile into `out` (chunks x kColumns Weights).
  DecodedWeights(const DecodingWeights<K, kColumns>& decoding, int64_t chunks,
                 int64_t full_chunks, typename K::Weights* out)
      : decoded_(out) {
    for (int64_t chunk = 0; chunk < full_chunks; ++chunk) {
      decoding.StartChunk(chunk);
      for (int col = 0; col < kColumns; ++col) {
        out[chunk * kColumns + col] = decoding.Full(chunk, col);
      }
    }
    for (int64_t chunk = full_chunks; chunk < chunks; ++chunk) {
      for (int col = 0; col < kColumns; ++col) {
        out[chunk * kColumns + col] = decoding.Tail(chunk, col);
      }
    }
  }

  void StartChunk(int64_t) const {}
  [[gnu::always_inline]] const typename K::Weights& Full(int64_t chunk, int col) const {
    return decoded_[chunk * kColumns + col];
  }
  const typename K::Weights& Tail(int64_t chunk, int col) const { return Full(chunk, col); }

 private:
  const typename K::Weights* decoded_;
};

// C[rows, columns] for kRows prepared rows (row r's chunks at prepared + r * chunks) and the
// kColumns columns from `first_column` whose weights `weights` gives.
template <typename K, int kRows, int kColumns, typename Weights>
void MultiplyInt8Tile(const K& kernel, const WeightsView& b, const Weights& weights,
                      const typename K::Chunk* prepared, int64_t chunks, int64_t first_column,
                      float* c, int64_t ldc) {
  const int64_t full_chunks = b.k / K::kChunk;
  typename K::Acc acc[kRows][kColumns];
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kColumns; ++col) acc[r][col] = K::Zero();
  }
  const auto multiply_chunk = [&](int64_t chunk, int col, const typename K::Weights& w) {
    for (int r = 0; r < kRows; ++r) {
      acc[r][col] = K::Add(w, prepared[r * chunks + chunk], acc[r][col]);
    }
  };
  for (int64_t chunk = 0; chunk < full_chunks; ++chunk) {
    weights.StartChunk(chunk);
    for (int col = 0; col < kColumns; ++col) multiply_chunk(chunk, col, weights.Full(chunk, col));
  }
  for (int64_t chunk = full_chunks; chunk < chunks; ++chunk) {
    for (int col = 0; col < kColumns; ++col) multiply_chunk(chunk, col, weights.Tail(chunk, col));
  }
  const float output_scale = kernel.OutputScale(b);
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kColumns; ++col) {
      c[r * ldc + first_column + col] = K::Sum(acc[r][col]) * output_scale;
    }
  }
}

// The row tiles of `rows` prepared rows x kColumns columns from `first_column`.
template <typename K, int kColumns, typename Weights>
void MultiplyInt8Rows(const K& kernel, const WeightsView& b, const Weights& weights,
                      const typename K::Chunk* prepared, int64_t chunks, int64_t rows,
                      int64_t first_column, float* c, int64_t ldc) {
  ForEachRowTile<K::kRowTile>(rows, [&](auto tile_rows, int64_t r) {
    MultiplyInt8Tile<K, decltype(tile_rows)::value, kColumns>(
        kernel, b, weights, prepared + r * chunks, chunks, first_column, c + r * ldc, ldc);
  });
}

// Blocks of more row tiles than this decode each column tile once (DecodedWeights). On Zen 4,
// one thread, 2048 x 7168 and 7168 x 2048 at 32 and 128 rows: AVX-512 W4A8 4 to 16% faster,
// AVX2 W4A8 and INT4 K2 1.2 to 1.5x; with fewer rows it gained little or lost (AVX-512 -7 to
// +7% at 12 and 16 rows, where k = 7168's decoded weights, 35 KB, outgrow the 32 KB L1; up to
// 13% slower at 8).
constexpr int64_t kDecodeOnceRowTiles = 4;

// The kernel's entry point (once its scale kind is known): C[:, n_begin..n_end).
template <typename K>
void MultiplyInt8(const K& kernel, const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  const WeightsView& b = args.b;
  const int64_t chunks = (b.k + K::kChunk - 1) / K::kChunk;
  const int64_t full_chunks = b.k / K::kChunk;
  const PreparedRowBlocks<K> row_blocks(
      args, chunks, static_cast<size_t>(chunks * K::kColumnTile) * sizeof(typename K::Weights));
  auto* decoded = reinterpret_cast<typename K::Weights*>(row_blocks.extra());
  row_blocks.ForEach(kernel, [&](int64_t first_row, int64_t rows,
                                 const typename K::Chunk* prepared) {
    float* c = args.c + first_row * args.ldc;
    ForEachColumnTile<K::kColumnTile>(n_begin, n_end, [&](auto columns, int64_t j) {
      constexpr int kColumns = decltype(columns)::value;
      const DecodingWeights<K, kColumns> decoding(kernel, b, j, n_end);
      if (rows > kDecodeOnceRowTiles * K::kRowTile) {
        const DecodedWeights<K, kColumns> weights(decoding, chunks, full_chunks, decoded);
        MultiplyInt8Rows<K, kColumns>(kernel, b, weights, prepared, chunks, rows, j, c,
                                      args.ldc);
      } else {
        MultiplyInt8Rows<K, kColumns>(kernel, b, decoding, prepared, chunks, rows, j, c,
                                      args.ldc);
      }
    });
  });
}

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_INT8_TILE_DRIVER_H_
