// INT4 K2 weights x int8 activations on AMX (the kt-kernel k2-moe scheme): activation tiles
// (16 rows x one group of k) times weight tiles decoded to int8 in the VNNI layout, TDPBSSD
// into one int32 tile per group, and each group's int32 tile scaled into float accumulators.
//
// The float work (per 16 sums: convert, scale product, FMA) costs more than the tile product
// itself at G = 32, so the kernel is built around keeping it lean and overlapped:
//  * one C tile (16 rows x 16 columns) at a time, its float accumulators in 16 zmm registers
//    across a whole k block, written to C once per k block;
//  * accumulator tiles 0..3 take four groups at once (A tiles 4/5 and B tiles 6/7 alternate),
//    stored to one of two scratch buffers; the tile products run two batches ahead of the
//    AVX-512 scaling (software pipelining over all column tiles of a row tile), tile stores
//    after the scaling's loads;
//  * weights decode to 16 x their value (the nibble lands in the high half of the byte: one
//    multishift and one AND per 64 values after a dword transpose), the 1/16 folded into the
//    weight scales;
//  * activations of one row tile and k block are packed once (contiguous tiles, zero rows past
//    m), weight panels of up to 128 columns once per k block and reused by every row tile;
//    the next k block's weights and the next row tile's activations are prefetched into L2.
//
// Measured (H100 host, 16 threads, n = 2048, k = 7168, G = 32; noisy machine, best of two):
// m = 32 / 128 / 1024 in 0.47 / 2.0 / 12.3 ms, against 1.18 / 2.67 / 19.3 ms before. A run
// with the scaling left out took 10.4 ms at m = 1024: about 190 cycles per 16 x 16 x 32 tile
// product with its tile store, far above TDPBSSD's 16, so the AMX side (a TILESTORED per
// group) now bounds it, not the float work.
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
// Column tiles decoded per k block (128 columns: a 16-thread slice of n = 2048).
constexpr int kChunkTiles = 8;
// k per block: the packed activations of a row tile (16 x kc bytes) and one weight panel
// (16 columns x kc bytes) stay in L1 while the row tile walks the column tiles.
constexpr int64_t kKBlockTarget = 512;
constexpr int64_t kMaxKBlock = 512;
constexpr int kMaxGroupsPerBlock = kMaxKBlock / 32;
constexpr int kBatch = 4;  // groups in flight: accumulator tiles 0..3

// Per-thread scratch (no allocation per call).
struct Scratch {
  // Decoded weights (16 x value) per column tile: kc / 4 VNNI rows of 16 columns x 4 k.
  alignas(64) int8_t panels[kChunkTiles][kMaxKBlock / 4][64];
  // Weight scales / 16 per column tile, group and column (0 past the last column).
  alignas(64) float weight_scales[kChunkTiles][kMaxGroupsPerBlock][kTileColumns];
  // Activations of one row tile: per k step, 16 rows x k_step bytes (0 past the last row).
  alignas(64) int8_t a_pack[kTileRows * kMaxKBlock];
  // Activation scales of one row tile per group and row (0 past the last row).
  alignas(64) float a_scales[kMaxGroupsPerBlock][kTileRows];
  // Int32 tiles of a batch of groups, double-buffered.
  alignas(64) int32_t sums[2][kBatch][kTileRows][kTileColumns];
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
                 int64_t prefetch_k, int8_t (*panel)[64], float (*scales)[kTileColumns]) {
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
      // The same bytes of the next k block, into L2 while this block is multiplied (the
      // hardware prefetcher tracks too few of the 128 row streams).
      if (k0 + kk + prefetch_k < b.k) __builtin_prefetch(source + prefetch_k / 2, 0, 2);
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
  if (b.scale_kind == ScaleKind::kBf16 && block_groups == 16 && columns == 16) {
    // Per column 16 BF16 scales widened to float bits, then transposed to [group][column].
    const __m512i widen = _mm512_set_epi16(15, 32, 14, 32, 13, 32, 12, 32, 11, 32, 10, 32, 9, 32,
                                           8, 32, 7, 32, 6, 32, 5, 32, 4, 32, 3, 32, 2, 32, 1, 32,
                                           0, 32);
    __m512i by_column[16], by_group[16];
    for (int c = 0; c < 16; ++c) {
      const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
          b.scales + 2 * ((n0 + c) * groups + k0 / b.block)));
      by_column[c] = _mm512_permutex2var_epi16(_mm512_castsi256_si512(bits), widen,
                                               _mm512_setzero_si512());
    }
    TransposeDwords(by_column, by_group);
    for (int g = 0; g < 16; ++g) {
      _mm512_store_ps(scales[g], _mm512_mul_ps(_mm512_castsi512_ps(by_group[g]),
                                               _mm512_set1_ps(sixteenth)));
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

// Rows [m0, m0 + rows) (rows <= 16) x k [k0, k0 + kc) into scratch.a_pack as kc / k_step
// tiles of 16 rows x k_step bytes, and their scales into scratch.a_scales; rows past `rows`
// are zero.
void PackActivations(Scratch& scratch, const GemmArgs& args, int64_t m0, int rows, int64_t k0,
                     int64_t kc, int64_t block_k, int k_step) {
  const int64_t k = args.b.k;
  int8_t* out = scratch.a_pack;
  for (int r = 0; r < kTileRows; ++r) {
    const int8_t* source = args.a_int8.values + (m0 + r) * k + k0;
    if (k_step == 64) {
      for (int64_t kk = 0; kk < kc; kk += 64) {
        _mm512_store_si512(out + kk * kTileRows + r * 64,
                           r < rows ? _mm512_loadu_si512(source + kk) : _mm512_setzero_si512());
      }
    } else {
      for (int64_t kk = 0; kk < kc; kk += 32) {
        _mm256_store_si256(
            reinterpret_cast<__m256i*>(out + kk * kTileRows + r * 32),
            r < rows ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(source + kk))
                     : _mm256_setzero_si256());
      }
    }
  }

  // The rows the next call packs (the next row tile, else the first of the next k block),
  // into L2 while this row tile is multiplied.
  const int64_t next_m0 = m0 + kTileRows < args.m ? m0 + kTileRows : 0;
  const int64_t next_k0 = m0 + kTileRows < args.m ? k0 : k0 + block_k;
  if (next_k0 < k) {
    const int64_t next_kc = k - next_k0 < block_k ? k - next_k0 : block_k;
    for (int64_t r = next_m0; r < next_m0 + kTileRows && r < args.m; ++r) {
      const int8_t* row = args.a_int8.values + r * k + next_k0;
      for (int64_t kk = 0; kk < next_kc; kk += 64) __builtin_prefetch(row + kk, 0, 2);
    }
  }

  const int64_t group = args.b.block;
  const int64_t groups = k / group;
  const int block_groups = static_cast<int>(kc / group);
  const float* a_scales = args.a_int8.scales + m0 * groups + k0 / group;
  if (block_groups == 16 && rows == 16) {
    __m512i by_row[16], by_group[16];
    for (int r = 0; r < 16; ++r) {
      by_row[r] = _mm512_castps_si512(_mm512_loadu_ps(a_scales + r * groups));
    }
    TransposeDwords(by_row, by_group);
    for (int g = 0; g < 16; ++g) {
      _mm512_store_ps(scratch.a_scales[g], _mm512_castsi512_ps(by_group[g]));
    }
    return;
  }
  for (int g = 0; g < block_groups; ++g) {
    for (int r = 0; r < kTileRows; ++r) {
      scratch.a_scales[g][r] = r < rows ? a_scales[r * groups + g] : 0.0f;
    }
  }
}

// One group into accumulator tile ACC (A tile AT, B tile BT): `steps` tile products of kKStep.
#define FP4MOE_INT4_AMX_GROUP(ACC, AT, BT, a, b)        \
  do {                                                  \
    _tile_zero(ACC);                                    \
    for (int s = 0; s < steps; ++s) {                   \
      _tile_loadd(AT, (a) + s * kAStepBytes, kKStep);   \
      _tile_loadd(BT, (b) + s * kBStepBytes, 64);       \
      _tile_dpbssd(ACC, AT, BT);                        \
    }                                                   \
  } while (0)

// Tile products of groups [g0, g0 + count) (count <= 4) of one row tile x one column tile into
// accumulator tiles 0..count-1; kSteps tile products per group (0: `runtime_steps`).
template <int kKStep, int kSteps>
[[gnu::always_inline]] inline void ComputeBatch(const int8_t* a_pack, const int8_t* panel, int g0,
                                                int count, int runtime_steps) {
  constexpr int64_t kAStepBytes = kTileRows * kKStep;
  constexpr int64_t kBStepBytes = 16 * kKStep;  // kKStep / 4 rows of 64 bytes
  const int steps = kSteps > 0 ? kSteps : runtime_steps;
  const int64_t a_group = steps * kAStepBytes;
  const int64_t b_group = steps * kBStepBytes;
  const int8_t* a = a_pack + g0 * a_group;
  const int8_t* b = panel + g0 * b_group;
  FP4MOE_INT4_AMX_GROUP(0, 4, 6, a, b);
  if (count > 1) FP4MOE_INT4_AMX_GROUP(1, 5, 7, a + a_group, b + b_group);
  if (count > 2) FP4MOE_INT4_AMX_GROUP(2, 4, 6, a + 2 * a_group, b + 2 * b_group);
  if (count > 3) FP4MOE_INT4_AMX_GROUP(3, 5, 7, a + 3 * a_group, b + 3 * b_group);
}

#undef FP4MOE_INT4_AMX_GROUP

// Accumulator tiles 0..count-1 to `out`.
[[gnu::always_inline]] inline void StoreBatch(int count, int32_t (*out)[kTileRows][kTileColumns]) {
  _tile_stored(0, out[0][0], 64);
  if (count > 1) _tile_stored(1, out[1][0], 64);
  if (count > 2) _tile_stored(2, out[2][0], 64);
  if (count > 3) _tile_stored(3, out[3][0], 64);
}

// C[m0 + r][n0 + j] (+)= acc[r][j] for r < rows, j < columns.
[[gnu::always_inline]] inline void StoreTile(const __m512 acc[16], float* c, int64_t ldc,
                                             int rows, int columns, bool first) {
  // Constant indices only, so that acc stays in registers.
  if (rows == kTileRows && columns == kTileColumns) {
#pragma GCC unroll 16
    for (int r = 0; r < kTileRows; ++r) {
      float* row = c + r * ldc;
      _mm512_storeu_ps(row, first ? acc[r] : _mm512_add_ps(acc[r], _mm512_loadu_ps(row)));
    }
    return;
  }
  alignas(64) float values[kTileRows][kTileColumns];
#pragma GCC unroll 16
  for (int r = 0; r < kTileRows; ++r) _mm512_store_ps(values[r], acc[r]);
  for (int r = 0; r < rows; ++r) {
    float* row = c + r * ldc;
    for (int j = 0; j < columns; ++j) row[j] = first ? values[r][j] : row[j] + values[r][j];
  }
}

// Position in the (column tile, batch of groups) sequence of a row tile.
struct Cursor {
  int tile = 0;
  int batch = 0;
};

// One row tile (rows [m0, m0 + rows)) x the decoded column tiles of the chunk over the k block
// whose activations are packed: per column tile, the groups' int32 tiles scaled into 16 zmm
// accumulators, written to C at the end.
//
// Schedule: the tile products run two batches ahead of the AVX-512 scaling (the int32 tiles
// double-buffered), and every tile store comes after the scaling's loads in program order, so
// that no load waits behind a tile store that still waits for its tile products (a load that
// 4K-aliases a pending store stalls).
template <int kKStep, int kSteps>
void MultiplyRowTile(Scratch& scratch, const GemmArgs& args, int64_t m0, int rows, int64_t n0,
                     int64_t n_end, int tiles, int block_groups, int runtime_steps, bool first) {
  const int batches = (block_groups + kBatch - 1) / kBatch;
  const int last_count = block_groups - (batches - 1) * kBatch;
  auto count_of = [&](const Cursor& c) { return c.batch == batches - 1 ? last_count : kBatch; };
  auto advance = [&](Cursor& c) {
    if (++c.batch == batches) {
      c.batch = 0;
      ++c.tile;
    }
  };
  auto compute = [&](const Cursor& c) {
    ComputeBatch<kKStep, kSteps>(scratch.a_pack, scratch.panels[c.tile][0], c.batch * kBatch,
                                 count_of(c), runtime_steps);
  };

  Cursor ahead;  // the next batch to compute
  int ahead_buffer = 0;
  for (int i = 0; i < 2 && ahead.tile < tiles; ++i) {
    compute(ahead);
    StoreBatch(count_of(ahead), scratch.sums[ahead_buffer]);
    advance(ahead);
    ahead_buffer ^= 1;
  }

  __m512 acc[16];
#pragma GCC unroll 16
  for (int r = 0; r < 16; ++r) acc[r] = _mm512_setzero_ps();
  Cursor current;
  int buffer = 0;
  for (;;) {
    const bool more = ahead.tile < tiles;
    if (more) compute(ahead);
    const int g0 = current.batch * kBatch;
    const int count = count_of(current);
    const int32_t (*sums)[kTileRows][kTileColumns] = scratch.sums[buffer];
    const float (*weight_scales)[kTileColumns] = scratch.weight_scales[current.tile];
    for (int j = 0; j < count; ++j) {
      const __m512 w = _mm512_load_ps(weight_scales[g0 + j]);
      const float* a_scales = scratch.a_scales[g0 + j];
#pragma GCC unroll 16
      for (int r = 0; r < 16; ++r) {
        const __m512 sum = Int32ToFloat(_mm512_load_si512(sums[j][r]));
        acc[r] = _mm512_fmadd_ps(sum, _mm512_mul_ps(w, _mm512_set1_ps(a_scales[r])), acc[r]);
      }
    }
    if (current.batch == batches - 1) {
      const int64_t column = n0 + current.tile * kTileColumns;
      const int columns =
          n_end - column < kTileColumns ? static_cast<int>(n_end - column) : kTileColumns;
      StoreTile(acc, args.c + m0 * args.ldc + column, args.ldc, rows, columns, first);
#pragma GCC unroll 16
      for (int r = 0; r < 16; ++r) acc[r] = _mm512_setzero_ps();
    }
    if (more) {
      StoreBatch(count_of(ahead), scratch.sums[ahead_buffer]);
      advance(ahead);
      ahead_buffer ^= 1;
    }
    buffer ^= 1;
    advance(current);
    if (current.tile == tiles) break;
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
  const int64_t block_k = (kKBlockTarget / group > 0 ? kKBlockTarget / group : 1) * group;

  ConfigureTiles(k_step);
  // One TLS look-up per call: with -fPIC each access calls __tls_get_addr, which clobbers the
  // zmm accumulators (the empty asm hides the address so that gcc cannot re-derive it).
  Scratch* scratch_address = &thread_scratch;
  asm("" : "+r"(scratch_address));
  Scratch& scratch = *scratch_address;

  constexpr int64_t kChunkColumns = kChunkTiles * kTileColumns;
  for (int64_t n0 = n_begin; n0 < n_end; n0 += kChunkColumns) {
    const int64_t chunk_end = n_end - n0 < kChunkColumns ? n_end : n0 + kChunkColumns;
    const int tiles = static_cast<int>((chunk_end - n0 + kTileColumns - 1) / kTileColumns);
    for (int64_t k0 = 0; k0 < b.k; k0 += block_k) {
      const int64_t kc = b.k - k0 < block_k ? b.k - k0 : block_k;
      const int block_groups = static_cast<int>(kc / group);
      for (int t = 0; t < tiles; ++t) {
        const int64_t column = n0 + t * kTileColumns;
        const int columns = chunk_end - column < kTileColumns
                                ? static_cast<int>(chunk_end - column)
                                : kTileColumns;
        DecodePanel(b, column, columns, k0, kc, block_k, scratch.panels[t],
                    scratch.weight_scales[t]);
      }
      for (int64_t m0 = 0; m0 < m; m0 += kTileRows) {
        const int rows = m - m0 < kTileRows ? static_cast<int>(m - m0) : kTileRows;
        PackActivations(scratch, args, m0, rows, k0, kc, block_k, k_step);
        const bool first = k0 == 0;
        if (k_step == 32 && steps == 1) {
          MultiplyRowTile<32, 1>(scratch, args, m0, rows, n0, chunk_end, tiles, block_groups,
                                 steps, first);
        } else if (k_step == 32) {
          MultiplyRowTile<32, 0>(scratch, args, m0, rows, n0, chunk_end, tiles, block_groups,
                                 steps, first);
        } else if (steps == 1) {
          MultiplyRowTile<64, 1>(scratch, args, m0, rows, n0, chunk_end, tiles, block_groups,
                                 steps, first);
        } else {
          MultiplyRowTile<64, 0>(scratch, args, m0, rows, n0, chunk_end, tiles, block_groups,
                                 steps, first);
        }
      }
    }
  }
  _tile_release();
}

}  // namespace fp4moe::kernels
