// INT4 K2 weights x int8 activations on AMX (the kt-kernel k2-moe scheme): per group of k,
// TDPBSSD of activation tiles by weight tiles decoded to int8 in the VNNI layout into int32
// tiles, and each group's int32 tiles scaled into float accumulators (weight scale per column
// x activation scale per row, both per group).
//
// What bounds it (//benchmarks:amx_sequence_benchmark on the Xeon, 16 threads, G = 32): a tile
// product over 32 bytes of k takes as long as one over 64 (17 TOPS for the products alone,
// 11 with their tile loads, 10.8 with a tile store per group), and the float scaling of every
// group's sums costs as much again unless it overlaps the tile products. So the kernel:
//  * blocks 32 rows x 32 columns (2 activation tiles x 2 weight tiles into 4 int32 tiles):
//    4 tile loads per 4 products;
//  * software-pipelines over the (column pair, group) sequence of a row pair: the scaling of
//    the previous group's 4 tiles is interleaved with this group's 4 products (one tile each),
//    the int32 tiles double-buffered in memory and stored after the scaling's loads (a load
//    that 4K-aliases a pending tile store stalls);
//  * keeps the 32 x 32 float block in L1, written to C once per k block;
//  * decodes weights to 16 x their value (the nibble lands in the high half of the byte: one
//    multishift and one AND per 64 values after a dword transpose), the 1/16 folded into the
//    weight scales, once per k block for a chunk of up to 128 columns reused by every row pair;
//  * loads activation tiles straight from the int8 rows (the last, partial row pair is packed
//    with zero rows) and prefetches into L2, a few lines per group, the next row pair's rows
//    and the codes of the next panel;
//  * up to 16 rows (decode) use one row tile, scale only the rows there are, and take longer
//    k blocks.
#include <cstdint>
#include <cstring>

#include "kernels/amx_helpers.h"
#include "kernels/avx512_helpers.h"
#include "kernels/block_scale.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {
namespace {

constexpr int kTileRows = 16;
constexpr int kTileColumns = 16;
constexpr int kBlockRows = 2 * kTileRows;
constexpr int kBlockColumns = 2 * kTileColumns;
// Column tiles decoded per k block (128 columns: a 16-thread slice of n = 2048).
constexpr int kChunkTiles = 8;
// k per block: the packed activations of a row pair (32 x kc bytes) stay in L1 while the row
// pair walks the column pairs, the chunk's panels (128 x kc / 2 bytes) in L2.
constexpr int64_t kKBlockTarget = 512;
// k per block for up to 16 rows (decode), whose activations are small: 1 KB runs of each
// weight row per panel instead of 256 bytes; the panels (256 KB) still fit in L2.
constexpr int64_t kDecodeKBlockTarget = 2048;
constexpr int64_t kMaxKBlock = 2048;
constexpr int kMaxGroupsPerBlock = kMaxKBlock / 32;

// Per-thread scratch (no allocation per call).
struct Scratch {
  // Decoded weights (16 x value) per column tile: kc / 4 VNNI rows of 16 columns x 4 k.
  alignas(64) int8_t panels[kChunkTiles][kMaxKBlock / 4][64];
  // Weight scales / 16 per column tile, group and column (0 past the last column).
  alignas(64) float weight_scales[kChunkTiles][kMaxGroupsPerBlock][kTileColumns];
  // Activations of the last, partial row pair per row tile: per k step, 16 rows x k_step
  // bytes (0 past m).
  alignas(64) int8_t a_pack[2][kTileRows * kMaxKBlock];
  // Activation scales of a row pair per row tile, group and row (0 past m).
  alignas(64) float a_scales[2][kMaxGroupsPerBlock][kTileRows];
  // The 4 int32 tiles of a group, double-buffered: tile t at [t][row][column].
  alignas(64) int32_t sums[2][4][kTileRows][kTileColumns];
  // The float accumulators of one 32 x 32 block over the k block.
  alignas(64) float block[kBlockRows][kBlockColumns];
};
thread_local Scratch thread_scratch;

// Per qword of a transposed dword row (columns 2j and 2j + 1, 8 nibbles = 8 k each): the bit
// offsets that put nibbles 0..3 (kLow) or 4..7 (kHigh) of each column into the high half of a
// byte, so that AND 0xF0 leaves 16 x the two's-complement value.
constexpr uint64_t kLowNibbleOffsets = 0x2824201C0804003CULL;
constexpr uint64_t kHighNibbleOffsets = 0x3834302C1814100CULL;

// Columns [n0, n0 + columns) (columns <= 16) x k [k0, k0 + kc) into `panel` as 16 x the int4
// values in the VNNI layout (missing columns zero), and their group scales / 16 into `scales`.
void DecodePanel(const WeightsView& b, int64_t n0, int columns, int64_t k0, int64_t kc,
                 int8_t (*panel)[64], float (*scales)[kTileColumns]) {
  const __m512i low_offsets = _mm512_set1_epi64(static_cast<long long>(kLowNibbleOffsets));
  const __m512i high_offsets = _mm512_set1_epi64(static_cast<long long>(kHighNibbleOffsets));
  const __m512i high_nibbles = _mm512_set1_epi8(static_cast<char>(0xF0));
  for (int64_t kk = 0; kk < kc; kk += 128) {
    const int valid = kc - kk < 128 ? static_cast<int>(kc - kk) : 128;  // a multiple of 32
    __m512i codes[16], rows[16];
    for (int c = 0; c < 16; ++c) {
      if (c >= columns) {
        codes[c] = _mm512_setzero_si512();
        continue;
      }
      const uint8_t* source = b.codes + (n0 + c) * (b.k / 2) + (k0 + kk) / 2;
      if (valid == 128) {
        codes[c] = _mm512_loadu_si512(source);
      } else {
        alignas(64) uint8_t partial[64] = {};
        std::memcpy(partial, source, valid / 2);
        codes[c] = _mm512_load_si512(partial);
      }
    }
    // rows[q] dword c: column c, k in [kk + 8q, kk + 8q + 8).
    TransposeDwords(codes, rows);
    for (int q = 0; q < valid / 8; ++q) {
      _mm512_store_si512(panel[kk / 4 + 2 * q],
                         _mm512_and_si512(_mm512_multishift_epi64_epi8(low_offsets, rows[q]),
                                          high_nibbles));
      _mm512_store_si512(panel[kk / 4 + 2 * q + 1],
                         _mm512_and_si512(_mm512_multishift_epi64_epi8(high_offsets, rows[q]),
                                          high_nibbles));
    }
  }

  const int64_t groups = b.k / b.block;
  const int block_groups = static_cast<int>(kc / b.block);
  const float sixteenth = 1.0f / 16.0f;
  if (b.scale_kind == ScaleKind::kBf16 && block_groups % 16 == 0 && columns == 16) {
    // Per column 16 BF16 scales at a time widened to float bits, transposed to [group][column].
    const __m512i widen = _mm512_set_epi16(15, 32, 14, 32, 13, 32, 12, 32, 11, 32, 10, 32, 9, 32,
                                           8, 32, 7, 32, 6, 32, 5, 32, 4, 32, 3, 32, 2, 32, 1, 32,
                                           0, 32);
    for (int g0 = 0; g0 < block_groups; g0 += 16) {
      __m512i by_column[16], by_group[16];
      for (int c = 0; c < 16; ++c) {
        const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
            b.scales + 2 * ((n0 + c) * groups + k0 / b.block + g0)));
        by_column[c] = _mm512_permutex2var_epi16(_mm512_castsi256_si512(bits), widen,
                                                 _mm512_setzero_si512());
      }
      TransposeDwords(by_column, by_group);
      for (int g = 0; g < 16; ++g) {
        _mm512_store_ps(scales[g0 + g], _mm512_mul_ps(_mm512_castsi512_ps(by_group[g]),
                                                      _mm512_set1_ps(sixteenth)));
      }
    }
    return;
  }
  for (int g = 0; g < block_groups; ++g) {
    for (int c = 0; c < kTileColumns; ++c) {
      scales[g][c] =
          c < columns
              ? DecodeBlockScale(b.scale_kind, b.scales, (n0 + c) * groups + k0 / b.block + g) *
                    sixteenth
              : 0.0f;
    }
  }
}

// Where a row pair's activation tiles are: the int8 rows themselves (a full row pair), or
// packed tiles with zero rows past m (the last, partial one).
struct ActivationTiles {
  const int8_t* tiles[2];  // row tile 0 and 1 at the k block's first byte
  int64_t stride;          // between the rows of a tile
  int64_t step_bytes;      // from one k step to the next
  int64_t group_bytes;     // from one group to the next
};

// Rows [m0, m0 + rows) (rows <= 16) x k [k0, k0 + kc) into `pack` as kc / k_step tiles of
// 16 rows x k_step bytes; rows past `rows` are zero.
void PackRows(const GemmArgs& args, int64_t m0, int rows, int64_t k0, int64_t kc, int k_step,
              int8_t* pack) {
  const int64_t k = args.b.k;
  for (int r = 0; r < kTileRows; ++r) {
    const int8_t* source = args.a_int8.values + (m0 + r) * k + k0;
    if (k_step == 64) {
      for (int64_t kk = 0; kk < kc; kk += 64) {
        _mm512_store_si512(pack + kk * kTileRows + r * 64,
                           r < rows ? _mm512_loadu_si512(source + kk) : _mm512_setzero_si512());
      }
    } else {
      for (int64_t kk = 0; kk < kc; kk += 32) {
        _mm256_store_si256(
            reinterpret_cast<__m256i*>(pack + kk * kTileRows + r * 32),
            r < rows ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(source + kk))
                     : _mm256_setzero_si256());
      }
    }
  }
}

// The activation scales of rows [m0, m0 + rows) (rows <= 16) over the k block as
// [group][row]; rows past `rows` are zero.
void GatherActivationScales(const GemmArgs& args, int64_t m0, int rows, int64_t k0, int64_t kc,
                            float (*scales)[kTileRows]) {
  const int64_t group = args.b.block;
  const int64_t groups = args.b.k / group;
  const int block_groups = static_cast<int>(kc / group);
  const float* a_scales = args.a_int8.scales + m0 * groups + k0 / group;
  if (block_groups == 16 && rows == 16) {
    __m512i by_row[16], by_group[16];
    for (int r = 0; r < 16; ++r) {
      by_row[r] = _mm512_castps_si512(_mm512_loadu_ps(a_scales + r * groups));
    }
    TransposeDwords(by_row, by_group);
    for (int g = 0; g < 16; ++g) _mm512_store_ps(scales[g], _mm512_castsi512_ps(by_group[g]));
    return;
  }
  for (int g = 0; g < block_groups; ++g) {
    for (int r = 0; r < kTileRows; ++r) scales[g][r] = r < rows ? a_scales[r * groups + g] : 0.0f;
  }
}

// Tile numbers are literals: the native intrinsics paste them into the assembly. Tiles:
// int32 sums 0..3 (2 x row tile + column tile), activations 4 and 5, weights 6 and 7.
template <int kRowTiles>
[[gnu::always_inline]] inline void ZeroSums() {
  _tile_zero(0);
  _tile_zero(1);
  if (kRowTiles == 2) {
    _tile_zero(2);
    _tile_zero(3);
  }
}

// The kRowTiles activation and 2 weight tiles of k step `s` of a group.
template <int kKStep, int kRowTiles>
[[gnu::always_inline]] inline void LoadOperands(const ActivationTiles& a, const int8_t* a0,
                                                const int8_t* a1, const int8_t* b0,
                                                const int8_t* b1, int s) {
  _tile_loadd(4, a0 + s * a.step_bytes, a.stride);
  if (kRowTiles == 2) _tile_loadd(5, a1 + s * a.step_bytes, a.stride);
  _tile_loadd(6, b0 + s * 16 * kKStep, 64);
  _tile_loadd(7, b1 + s * 16 * kKStep, 64);
}

// The first `rows` rows of int32 tile t of `sums` x (weight scale per column x activation
// scale per row) added into its quarter of the float block (rows past m are never scaled: few
// rows are the decode case, where this scaling is most of the vector work).
[[gnu::always_inline]] inline void ScaleTile(int t, int rows,
                                             const int32_t (*sums)[kTileRows][kTileColumns],
                                             const float* weight_scales,
                                             const float* activation_scales,
                                             float (*block)[kBlockColumns]) {
  const __m512 w = _mm512_load_ps(weight_scales);
#pragma GCC unroll 16
  for (int r = 0; r < kTileRows; ++r) {
    if (r >= rows) break;
    float* out = &block[kTileRows * (t / 2) + r][kTileColumns * (t % 2)];
    const __m512 sum = Int32ToFloat(_mm512_load_si512(sums[t][r]));
    const __m512 scale = _mm512_mul_ps(w, _mm512_set1_ps(activation_scales[r]));
    _mm512_store_ps(out, _mm512_fmadd_ps(sum, scale, _mm512_load_ps(out)));
  }
}

// C[m0 + r][n0 + j] (+)= block[r][j] for r < rows, j < columns; those rows of the block, the
// only ones ScaleTile writes, are zeroed.
void WriteBlock(float (*block)[kBlockColumns], float* c, int64_t ldc, int rows, int columns,
                bool first) {
  for (int r = 0; r < rows; ++r) {
    float* row = c + r * ldc;
    if (columns == kBlockColumns) {
      for (int half = 0; half < 2; ++half) {
        const __m512 sum = _mm512_load_ps(&block[r][16 * half]);
        float* out = row + 16 * half;
        _mm512_storeu_ps(out, first ? sum : _mm512_add_ps(sum, _mm512_loadu_ps(out)));
      }
    } else {
      for (int j = 0; j < columns; ++j) row[j] = first ? block[r][j] : row[j] + block[r][j];
    }
    _mm512_store_ps(&block[r][0], _mm512_setzero_ps());
    _mm512_store_ps(&block[r][16], _mm512_setzero_ps());
  }
}

// One row pair (rows [m0, m0 + rows), tiles at `a`) x the chunk's column pairs over the k
// block; with kRowTiles = 1 (rows <= 16, the decode case) only the first row tile. Item i =
// (column pair i / groups, group i % groups): its tile products run interleaved with the
// scaling of item i - 1's tiles, which were stored one item earlier. Every item also
// prefetches a few lines of the activations the next row pair reads and of the next panel.
template <int kKStep, int kRowTiles>
void MultiplyRowPair(Scratch& scratch, const GemmArgs& args, const ActivationTiles& a,
                     RowPrefetcher& prefetcher, RowPrefetcher& weight_prefetcher, int64_t m0,
                     int rows, int64_t n0, int64_t n_end, int pairs, int block_groups, int steps,
                     bool first) {
  const int64_t group_bytes = steps * 16 * kKStep;  // of a weight panel
  const int items = pairs * block_groups;
  const int rows0 = rows < kTileRows ? rows : kTileRows;  // of row tile 0, then 1
  const int rows1 = rows - rows0;
  int buffer = 0;
  // Item i's (pair, g) and item i - 1's, counted rather than divided out (a division per item
  // sits in the address chain of its tile loads).
  int pair = 0, g = 0, previous_pair = 0, previous_g = 0;
  for (int i = 0; i <= items; ++i) {
    const bool compute = i < items;
    const bool scale = i > 0;
    const int32_t (*previous)[kTileRows][kTileColumns] = scratch.sums[buffer ^ 1];
    const float* w0 = scale ? scratch.weight_scales[2 * previous_pair][previous_g] : nullptr;
    const float* w1 = scale ? scratch.weight_scales[2 * previous_pair + 1][previous_g] : nullptr;
    const float* s0 = scratch.a_scales[0][scale ? previous_g : 0];
    const float* s1 = scratch.a_scales[1][scale ? previous_g : 0];

    if (compute) {
      prefetcher.Next();
      weight_prefetcher.Next();
      const int8_t* a0 = a.tiles[0] + g * a.group_bytes;
      const int8_t* a1 = a.tiles[1] + g * a.group_bytes;
      const int8_t* b0 = scratch.panels[2 * pair][0] + g * group_bytes;
      const int8_t* b1 = scratch.panels[2 * pair + 1][0] + g * group_bytes;
      ZeroSums<kRowTiles>();
      for (int s = 0; s + 1 < steps; ++s) {
        LoadOperands<kKStep, kRowTiles>(a, a0, a1, b0, b1, s);
        _tile_dpbssd(0, 4, 6);
        _tile_dpbssd(1, 4, 7);
        if (kRowTiles == 2) {
          _tile_dpbssd(2, 5, 6);
          _tile_dpbssd(3, 5, 7);
        }
      }
      LoadOperands<kKStep, kRowTiles>(a, a0, a1, b0, b1, steps - 1);
      _tile_dpbssd(0, 4, 6);
    }
    if (scale) ScaleTile(0, rows0, previous, w0, s0, scratch.block);
    if (compute) _tile_dpbssd(1, 4, 7);
    if (scale) ScaleTile(1, rows0, previous, w1, s0, scratch.block);
    if (kRowTiles == 2) {
      if (compute) _tile_dpbssd(2, 5, 6);
      if (scale) ScaleTile(2, rows1, previous, w0, s1, scratch.block);
      if (compute) _tile_dpbssd(3, 5, 7);
      if (scale) ScaleTile(3, rows1, previous, w1, s1, scratch.block);
    }
    if (scale && previous_g == block_groups - 1) {
      const int64_t column = n0 + previous_pair * kBlockColumns;
      const int columns =
          n_end - column < kBlockColumns ? static_cast<int>(n_end - column) : kBlockColumns;
      WriteBlock(scratch.block, args.c + m0 * args.ldc + column, args.ldc, rows, columns, first);
    }
    if (compute) {
      int32_t(*out)[kTileRows][kTileColumns] = scratch.sums[buffer];
      _tile_stored(0, out[0][0], 64);
      _tile_stored(1, out[1][0], 64);
      if (kRowTiles == 2) {
        _tile_stored(2, out[2][0], 64);
        _tile_stored(3, out[3][0], 64);
      }
    }
    buffer ^= 1;
    previous_pair = pair;
    previous_g = g;
    if (++g == block_groups) {
      g = 0;
      ++pair;
    }
  }
}

// MultiplyRowPair for the row pair's k step and number of row tiles.
template <typename... Args>
void MultiplyRows(int k_step, int rows, Args&&... args) {
  if (k_step == 32) {
    rows > kTileRows ? MultiplyRowPair<32, 2>(args...) : MultiplyRowPair<32, 1>(args...);
  } else {
    rows > kTileRows ? MultiplyRowPair<64, 2>(args...) : MultiplyRowPair<64, 1>(args...);
  }
}

}  // namespace

void FP4MOE_MICROKERNEL(int4_w4a8_32x32_amx)(const GemmArgs& args, int64_t n_begin,
                                               int64_t n_end) {
  const WeightsView& b = args.b;
  const int64_t m = args.m;
  const int64_t group = b.block;
  if (group % 32 != 0 || group > kMaxKBlock) {
    // Group sizes the tiles do not take: the plain C++ reference.
    int4_w4a8_scalar(args, n_begin, n_end);
    return;
  }
  // A tile product spans 64 bytes of k where the group allows, else 32 (one group).
  const int k_step = group % 64 == 0 ? 64 : 32;
  const int steps = static_cast<int>(group / k_step);
  const int64_t target = m <= kTileRows ? kDecodeKBlockTarget : kKBlockTarget;
  const int64_t block_k = (target / group > 0 ? target / group : 1) * group;

  ConfigureTiles(k_step);
  // One TLS look-up per call: with -fPIC each access calls __tls_get_addr.
  Scratch& scratch = thread_scratch;
  std::memset(scratch.block, 0, sizeof scratch.block);

  constexpr int64_t kChunkColumns = kChunkTiles * kTileColumns;
  for (int64_t n0 = n_begin; n0 < n_end; n0 += kChunkColumns) {
    const int64_t chunk_end = n_end - n0 < kChunkColumns ? n_end : n0 + kChunkColumns;
    const int tiles = static_cast<int>((chunk_end - n0 + kTileColumns - 1) / kTileColumns);
    const int pairs = (tiles + 1) / 2;
    for (int64_t k0 = 0; k0 < b.k; k0 += block_k) {
      const int64_t kc = b.k - k0 < block_k ? b.k - k0 : block_k;
      const int block_groups = static_cast<int>(kc / group);
      // An odd last tile pairs with a zero one.
      for (int t = 0; t < 2 * pairs; ++t) {
        const int64_t column = n0 + t * kTileColumns;
        const int64_t left = chunk_end > column ? chunk_end - column : 0;
        const int columns = left < kTileColumns ? static_cast<int>(left) : kTileColumns;
        DecodePanel(b, column, columns, k0, kc, scratch.panels[t], scratch.weight_scales[t]);
      }
      // The next panel's codes, a few lines per item of this k block's row pairs.
      RowPrefetcher weight_prefetcher =
          NextPanelPrefetcher(b, n0, chunk_end, n_end, kChunkColumns, k0, block_k,
                              (m + kBlockRows - 1) / kBlockRows * pairs * block_groups);
      for (int64_t m0 = 0; m0 < m; m0 += kBlockRows) {
        const int rows = m - m0 < kBlockRows ? static_cast<int>(m - m0) : kBlockRows;
        ActivationTiles a;
        // Up to 16 rows use row tile 0 only (a.tiles[1] then repeats it, unread).
        const int row_tiles = rows > kTileRows ? 2 : 1;
        for (int half = 0; half < row_tiles; ++half) {
          const int half_rows = rows - kTileRows * half;
          const int tile_rows = half_rows > kTileRows ? kTileRows : half_rows;
          GatherActivationScales(args, m0 + kTileRows * half, tile_rows, k0, kc,
                                 scratch.a_scales[half]);
          if (rows == kBlockRows) {
            a.tiles[half] = args.a_int8.values + (m0 + kTileRows * half) * b.k + k0;
          } else {
            PackRows(args, m0 + kTileRows * half, tile_rows, k0, kc, k_step, scratch.a_pack[half]);
            a.tiles[half] = scratch.a_pack[half];
          }
        }
        if (row_tiles == 1) a.tiles[1] = a.tiles[0];
        if (rows == kBlockRows) {
          a.stride = b.k;
          a.step_bytes = k_step;
          a.group_bytes = group;
        } else {
          a.stride = k_step;
          a.step_bytes = kTileRows * k_step;
          a.group_bytes = steps * kTileRows * k_step;
        }
        // The rows the next row pair reads.
        RowPrefetcher prefetcher =
            NextRowBlockPrefetcher(args.a_int8.values, /*tile_order=*/false, sizeof(int8_t), m, b.k, m0, kBlockRows,
                                   k0, block_k, pairs * block_groups);
        MultiplyRows(k_step, rows, scratch, args, a, prefetcher, weight_prefetcher, m0, rows, n0,
                     chunk_end, pairs, block_groups, steps, k0 == 0);
      }
    }
  }
  _tile_release();
}

}  // namespace fp4moe::kernels
