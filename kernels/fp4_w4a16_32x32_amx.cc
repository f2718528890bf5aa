// E2M1 weights x BF16 activations on AMX-BF16 (TDPBF16PS), for many rows. Blocks of 32 rows x
// 32 columns use 4 accumulator tiles. The weights of a chunk of up to 128 columns and one k
// block are decoded once (E2M1 x block scale rounded to BF16 as the reference: vpermw from a
// per-block-pair table) into the VNNI pair layout the B tiles want (row r: 16 columns x k 2r,
// 2r + 1) and reused for every row block; A tiles are the BF16 activations as they are (16 rows
// x 32 k). The tiles sum in float over the k block, C adds the blocks and takes tensor_scale at
// the end.
//
// Loop order (//kernels:amx_sequence_benchmark on the Xeon: tile products with their operands
// loaded from L1 reach 12 TFLOPS on 16 threads, from L2 7.5, from L3 3.5): per k block, a row
// block's activations (32 x kKBlock BF16) are read from memory once and stay in L1 while the
// row block walks the chunk's column blocks; the chunk's decoded panels stay in L2; the next row
// block's activations and the next panel's codes are prefetched into L2 a few lines per k step.
#include <cstdint>
#include <cstring>

#include "kernels/amx_helpers.h"
#include "kernels/avx512_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"

namespace fp4moe::kernels {
namespace {

constexpr int kTileRows = 16;
constexpr int kBlockRows = 32;
constexpr int kBlockColumns = 32;
// k per block (a multiple of 256): a row block's activations (32 KB) stay in L1, the chunk's
// panels (128 KB) in L2.
constexpr int64_t kKBlock = 512;
// Column tiles decoded per k block (128 columns: a 16-thread slice of n = 2048).
constexpr int kChunkTiles = 8;
// Elements of one column decoded per step: 16 blocks, one vector of scales.
constexpr int kSpan = 256;

// Tiles (see kernels/amx_helpers.h): accumulators 0..3 = C[row tile][column tile] at
// 2 * row tile + column tile, activations 4 and 5 (row tiles), weights 6 and 7 (column tiles).

// Per-thread scratch (no allocation per call).
struct Scratch {
  // Decoded weights of the chunk: per 16-column tile, kKBlock / 2 VNNI rows of 16 columns x 2
  // consecutive k.
  alignas(64) uint16_t panel[kChunkTiles][kKBlock / 2][32];
  // One column tile's columns decoded over kSpan k, before the transpose into the panel.
  alignas(64) uint16_t columns[16][kSpan];
  // The last, partial row block of A, zero-padded to 32 rows.
  alignas(64) uint16_t a_tail[kBlockRows][kKBlock];
  alignas(64) float sums[kBlockRows][kBlockColumns];
};
thread_local Scratch scratch;

// Decodes `length` (a multiple of 16, at most kSpan) weights of `column` from k0 into
// `target`, zero-padded to a multiple of 32.
template <ScaleKind kKind>
void DecodeColumn(const WeightsView& b, int64_t column, int64_t k0, int64_t length,
                  uint16_t* target) {
  constexpr int kScaleBytes = kKind == ScaleKind::kFloat32 ? 4 : 1;
  const uint8_t* codes = b.codes + column * (b.k / 2) + k0 / 2;
  const uint8_t* scales = b.scales + (column * (b.k / 16) + k0 / 16) * kScaleBytes;
  // The end of k: copies padded with zero codes and scales.
  alignas(64) uint8_t tail_codes[kSpan / 2];
  alignas(64) uint8_t tail_scales[kSpan / 16 * 4];
  if (length < kSpan) {
    std::memset(tail_codes, 0, sizeof tail_codes);
    std::memset(tail_scales, 0, sizeof tail_scales);
    std::memcpy(tail_codes, codes, length / 2);
    std::memcpy(tail_scales, scales, length / 16 * kScaleBytes);
    codes = tail_codes;
    scales = tail_scales;
  }
  DecodeSpan<kKind>(codes, scales, static_cast<int>((length + 31) / 32), target);
}

// Decodes columns [n0, n0 + columns) x k [k0, k0 + kc) into the panel's first `tiles` tiles
// (missing columns zero). A decoded column holds one k pair per dword: transposing 16 columns
// gives 16 B rows.
template <ScaleKind kKind>
void DecodePanel(const WeightsView& b, int64_t n0, int columns, int tiles, int64_t k0,
                 int64_t kc) {
  for (int tile = 0; tile < tiles; ++tile) {
    for (int64_t kk = 0; kk < kc; kk += kSpan) {
      const int64_t length = kc - kk < kSpan ? kc - kk : kSpan;
      for (int c = 0; c < 16; ++c) {
        if (tile * 16 + c < columns) {
          DecodeColumn<kKind>(b, n0 + tile * 16 + c, k0 + kk, length, scratch.columns[c]);
        } else {
          std::memset(scratch.columns[c], 0, sizeof scratch.columns[c]);
        }
      }
      for (int64_t l = 0; l < length; l += 32) {
        __m512i decoded[16], rows[16];
        for (int c = 0; c < 16; ++c) decoded[c] = _mm512_load_si512(scratch.columns[c] + l);
        TransposeDwords(decoded, rows);
        for (int r = 0; r < 16; ++r) {
          _mm512_store_si512(scratch.panel[tile][(kk + l) / 2 + r], rows[r]);
        }
      }
    }
  }
}

// C[rows, columns] = (C if not the first k block) + scratch.sums, x tensor_scale after the
// last k block.
void AddSums(const GemmArgs& args, int64_t m0, int rows, int64_t n0, int columns, bool first,
             bool last) {
  const float scale = last ? args.b.tensor_scale : 1.0f;
  const __m512 scales = _mm512_set1_ps(scale);
  for (int r = 0; r < rows; ++r) {
    float* c = args.c + (m0 + r) * args.ldc + n0;
    if (columns == kBlockColumns) {
      for (int half = 0; half < 2; ++half) {
        const __m512 sum = _mm512_load_ps(&scratch.sums[r][16 * half]);
        float* out = c + 16 * half;
        _mm512_storeu_ps(
            out, _mm512_mul_ps(first ? sum : _mm512_add_ps(sum, _mm512_loadu_ps(out)), scales));
      }
      continue;
    }
    for (int j = 0; j < columns; ++j) {
      c[j] = ((first ? 0.0f : c[j]) + scratch.sums[r][j]) * scale;
    }
  }
}

// One block of up to 32 rows (two row tiles, or one when `rows` <= 16) x 32 columns over the
// k block into scratch.sums. `a` is the block's first row at k0, `a_stride` its row stride in
// bytes.
template <bool kTwoRowTiles>
void MultiplyBlock(const uint16_t* a, int64_t a_stride, const uint16_t (*b0)[32],
                   const uint16_t (*b1)[32], int64_t kc, int k_step, RowPrefetcher& prefetcher,
                   RowPrefetcher& weight_prefetcher) {
  _tile_zero(0);
  _tile_zero(1);
  if (kTwoRowTiles) {
    _tile_zero(2);
    _tile_zero(3);
  }
  for (int64_t kk = 0; kk < kc; kk += k_step) {
    prefetcher.Next();
    weight_prefetcher.Next();
    _tile_loadd(6, b0[kk / 2], 64);
    _tile_loadd(7, b1[kk / 2], 64);
    _tile_loadd(4, a + kk, a_stride);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    if (kTwoRowTiles) {
      _tile_loadd(5, reinterpret_cast<const uint8_t*>(a + kk) + kTileRows * a_stride, a_stride);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
  }
  constexpr int64_t kSumsStride = sizeof scratch.sums[0];
  _tile_stored(0, &scratch.sums[0][0], kSumsStride);
  _tile_stored(1, &scratch.sums[0][16], kSumsStride);
  if (kTwoRowTiles) {
    _tile_stored(2, &scratch.sums[16][0], kSumsStride);
    _tile_stored(3, &scratch.sums[16][16], kSumsStride);
  }
}

template <ScaleKind kKind>
void Multiply(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  const WeightsView& b = args.b;
  const int64_t m = args.m;
  // k steps of 32 (a 64-byte A row); 16 when k is an odd multiple of 16 (k = 16 included).
  const int k_step = b.k % 32 == 0 ? 32 : 16;
  ConfigureTiles(2 * k_step);

  const int64_t full_rows = m / kBlockRows * kBlockRows;
  const int tail_rows = static_cast<int>(m - full_rows);
  const int64_t a_stride = b.k * static_cast<int64_t>(sizeof(uint16_t));
  constexpr int64_t kChunkColumns = kChunkTiles * kBlockColumns / 2;
  for (int64_t chunk = n_begin; chunk < n_end; chunk += kChunkColumns) {
    const int64_t chunk_columns = n_end - chunk < kChunkColumns ? n_end - chunk : kChunkColumns;
    // Whole column blocks: an odd last tile pairs with a zero one.
    const int blocks = static_cast<int>((chunk_columns + kBlockColumns - 1) / kBlockColumns);
    for (int64_t k0 = 0; k0 < b.k; k0 += kKBlock) {
      const int64_t kc = b.k - k0 < kKBlock ? b.k - k0 : kKBlock;
      const bool first = k0 == 0;
      const bool last = k0 + kc == b.k;
      DecodePanel<kKind>(b, chunk, static_cast<int>(chunk_columns), 2 * blocks, k0, kc);
      const int64_t block_steps = blocks * ((kc + k_step - 1) / k_step);
      // The next panel's codes, a few lines per k step of every row block.
      const int64_t row_blocks = full_rows / kBlockRows + (tail_rows > 0 ? 1 : 0);
      RowPrefetcher weight_prefetcher =
          NextPanelPrefetcher(b, chunk, chunk + chunk_columns, n_end, kChunkColumns, k0, kKBlock,
                              row_blocks * block_steps);
      for (int64_t m0 = 0; m0 < full_rows; m0 += kBlockRows) {
        // The next row block's activations, while this one runs.
        const int64_t next_rows = full_rows - m0 > kBlockRows ? kBlockRows : 0;
        RowPrefetcher prefetcher(
            next_rows > 0 ? args.a_bf16.values + (m0 + kBlockRows) * b.k + k0 : nullptr,
            a_stride, next_rows, kc * sizeof(uint16_t), block_steps);
        for (int block = 0; block < blocks; ++block) {
          const int64_t n0 = chunk + block * kBlockColumns;
          const int columns =
              n_end - n0 < kBlockColumns ? static_cast<int>(n_end - n0) : kBlockColumns;
          MultiplyBlock<true>(args.a_bf16.values + m0 * b.k + k0, a_stride,
                              scratch.panel[2 * block], scratch.panel[2 * block + 1], kc, k_step,
                              prefetcher, weight_prefetcher);
          AddSums(args, m0, kBlockRows, n0, columns, first, last);
        }
      }
      if (tail_rows == 0) continue;
      for (int r = 0; r < kBlockRows; ++r) {
        if (r < tail_rows) {
          std::memcpy(scratch.a_tail[r], args.a_bf16.values + (full_rows + r) * b.k + k0,
                      kc * sizeof(uint16_t));
        } else {
          std::memset(scratch.a_tail[r], 0, kc * sizeof(uint16_t));
        }
      }
      constexpr int64_t kTailStride = sizeof scratch.a_tail[0];
      RowPrefetcher none;
      for (int block = 0; block < blocks; ++block) {
        const int64_t n0 = chunk + block * kBlockColumns;
        const int columns =
            n_end - n0 < kBlockColumns ? static_cast<int>(n_end - n0) : kBlockColumns;
        if (tail_rows > kTileRows) {
          MultiplyBlock<true>(&scratch.a_tail[0][0], kTailStride, scratch.panel[2 * block],
                              scratch.panel[2 * block + 1], kc, k_step, none,
                              weight_prefetcher);
        } else {
          MultiplyBlock<false>(&scratch.a_tail[0][0], kTailStride, scratch.panel[2 * block],
                               scratch.panel[2 * block + 1], kc, k_step, none,
                               weight_prefetcher);
        }
        AddSums(args, full_rows, tail_rows, n0, columns, first, last);
      }
    }
  }
  _tile_release();
}

}  // namespace

void FP4MOE_MICROKERNEL(fp4_w4a16_32x32_amx)(const GemmArgs& args, int64_t n_begin,
                                               int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    Multiply<decltype(kind)::value>(args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
