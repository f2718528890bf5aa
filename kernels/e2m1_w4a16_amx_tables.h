#ifndef FP4MOE_KERNELS_E2M1_W4A16_AMX_TABLES_H_
#define FP4MOE_KERNELS_E2M1_W4A16_AMX_TABLES_H_

// A W4A16 AMX-BF16 driver for products of at most 16 rows of E2M1 weights with one-byte scales
// (E4M3, E8M0), built so that the decode costs about 2.5 instructions per 32 weights on the
// shuffle port (a widening, the tables' inserts, the lookups) where the panel driver
// (kernels/w4a16_amx_driver.h) needs 4 with its transpose, and no per-block tile stores:
// - the weights are the tiles' first operand, one weight row (a column of C) per tile row, so
//   that a tile row's 32 k come from one contiguous run of codes (no transpose); C^T
//   accumulates in the tiles over the whole K and is transposed once at the end;
// - 32 code bytes (64 k of one row, four 16-k scale blocks) are widened to words, and each
//   nibble is looked up in a table of code x scale for its block's scale byte: 256 rows of 16
//   BF16 weights per scale kind (8 KB, in L1), two scale blocks per 32-word vpermi2w table.
//   The low nibbles (even k) make one tile row, the high ones (odd k) another, and the
//   activations come in the same k order (the buffer's column windows, Bf16ActivationsView,
//   written once per Set for every thread and slice, else packed here per call), so the
//   products are those of the path's own weights, bit for bit the panel driver's decode;
// - with kRowBlocks, the codes and scales come by row blocks where the buffer keeps them
//   (WeightsView::row_block_codes): a block's window is one run of bytes, not one per row.
// Products of more than kColumnWindowMaxRows rows, k not a multiple of 64 or float32 scales run
// the panel driver: from 17 rows a second column tile on a 16-row block lost to its few-row
// schedule in the layer (Qwen3-30B-A3B at qlen 512 and Mixtral at 128, 6% each; one call on the
// Xeon, docs/performance-log.md). In an anonymous namespace, as the drivers.

#include <cstdint>

#include "kernels/amx_helpers.h"
#include "kernels/amx_tile_config.h"
#include "kernels/avx512_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/simd.h"
#include "kernels/thread_scratch.h"
#include "kernels/w4a16_amx_driver.h"

namespace fp4moe::kernels {
namespace {

// Weight rows per block: two 16-row halves, two C^T tiles.
constexpr int kTableBlockRows = 32;
// Windows ahead whose codes are prefetched.
constexpr int kTablePrefetchWindows = 8;

// BF16 code x scale for every scale byte: row s holds the 16 codes' weights for scale byte s,
// each the top half of the float product, as the panel driver's decode takes it (exact: E2M1
// times E4M3 or E8M0 has at most 6 significant bits).
template <ScaleKind kKind>
struct ScaledCodeTable {
  alignas(64) uint16_t weights[256][16];
};

template <ScaleKind kKind>
const ScaledCodeTable<kKind>& ScaledCodes() {
  static const ScaledCodeTable<kKind> table = [] {
    ScaledCodeTable<kKind> t{};
    for (int s0 = 0; s0 < 256; s0 += 16) {
      alignas(64) float scales[16];
      const __m512i bytes = _mm512_slli_epi32(
          _mm512_add_epi32(_mm512_set1_epi32(s0),
                           _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                                             15)),
          24);
      _mm512_store_ps(scales, DecodeTopByteScales<kKind>(bytes));
      for (int s = 0; s < 16; ++s) {
        alignas(64) uint32_t weights[16];
        _mm512_store_ps(reinterpret_cast<float*>(weights),
                        _mm512_mul_ps(E2m1Values(), _mm512_set1_ps(scales[s])));
        for (int c = 0; c < 16; ++c) t.weights[s0 + s][c] = static_cast<uint16_t>(weights[c] >> 16);
      }
    }
    return t;
  }();
  return table;
}

// Two slots of decoded rows: [slot][row of the block][even k, odd k][32 BF16].
using TableRowSlots = uint16_t[2][kTableBlockRows][2][32];

// Rows [0, m) of A (m <= 16) as column windows (Bf16ActivationsView), for a buffer that keeps
// none: the same tiles, so the same bits. Each tile row is stored as 64 bytes per 16 columns at
// 4m-byte steps, in order, so that a row's tail is overwritten by the next row; `windows` holds
// 64 bytes past the last window for the last row's.
void PackColumnWindows(const GemmArgs& args, uint16_t* windows) {
  const uint16_t* a = args.a_bf16.values;
  const int64_t k = args.b.k, m = args.m;
  __m512i index[2];  // even k, odd k
  {
    alignas(64) uint16_t even[32], odd[32];
    for (int w = 0; w < 32; ++w) {
      even[w] = static_cast<uint16_t>(2 * w);
      odd[w] = static_cast<uint16_t>(2 * w + 1);
    }
    index[0] = _mm512_load_si512(even);
    index[1] = _mm512_load_si512(odd);
  }
  for (int64_t window = 0; window < k / kColumnWindowK; ++window) {
    uint16_t* tiles = windows + window * kColumnWindowK * m;
    for (int parity = 0; parity < 2; ++parity) {
      __m512i columns[16], rows[16];  // rows: k pairs
      for (int j = 0; j < 16; ++j) {
        if (j >= m) {
          columns[j] = _mm512_setzero_si512();
          continue;
        }
        const uint16_t* row = a + j * k + window * kColumnWindowK;
        columns[j] = _mm512_permutex2var_epi16(_mm512_loadu_si512(row), index[parity],
                                               _mm512_loadu_si512(row + 32));
      }
      TransposeDwords(columns, rows);
      for (int r = 0; r < 16; ++r) {
        _mm512_storeu_si512(tiles + 2 * m * (16 * parity + r), rows[r]);
      }
    }
  }
}

// Decodes one window (32 code bytes at `codes`, the four block scales' bytes at `scales`) of a
// weight row into its even-k and odd-k tile rows.
template <ScaleKind kKind>
[[gnu::always_inline]] inline void DecodeWindow(const ScaledCodeTable<kKind>& table,
                                                const uint8_t* codes, const uint8_t* scales,
                                                __m512i block_bits, uint16_t (*out)[32]) {
  const auto half = [&](int block) {
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(table.weights[scales[block]]));
  };
  // Scale blocks 0, 1 in the first table, 2, 3 in the second: index bits 4 and 5 are the block.
  const __m512i first = _mm512_inserti64x4(_mm512_castsi256_si512(half(0)), half(1), 1);
  const __m512i second = _mm512_inserti64x4(_mm512_castsi256_si512(half(2)), half(3), 1);
  // Word w: code byte w (k 2w and 2w + 1; sign-extended, which the masks below drop), in
  // 128-bit lane w / 8 = its scale block.
  const __m512i bytes =
      _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes)));
  // (nibble & 0xF) | block_bits
  const __m512i nibble = _mm512_set1_epi16(0xF);
  const __m512i even = _mm512_ternarylogic_epi32(bytes, nibble, block_bits, 0xEA);
  const __m512i odd =
      _mm512_ternarylogic_epi32(_mm512_srli_epi16(bytes, 4), nibble, block_bits, 0xEA);
  _mm512_store_si512(out[0], _mm512_permutex2var_epi16(first, even, second));
  _mm512_store_si512(out[1], _mm512_permutex2var_epi16(first, odd, second));
}

// Tiles: C^T of the block's two 16-row halves 0 and 1 (16 x m floats), the window's even-k and
// odd-k activations 2 and 3 (16 k pairs x m dwords), the halves' even-k and odd-k weights 4, 5
// and 6, 7 (16 rows x 32 BF16).
void ConfigureTableTiles(int m) {
  TileConfig config;
  for (int t = 0; t < 8; ++t) {
    config.rows[t] = 16;
    config.column_bytes[t] = t < 4 ? static_cast<uint16_t>(4 * m) : 64;
  }
  LoadTileConfig(config);
}

// C[0:m, n_begin:n_end] for m <= 16 and k a multiple of 64 (F: for the ceilings' DriverOmits),
// reading the weights by row blocks where kRowBlocks and the buffer keeps them.
template <typename F, ScaleKind kKind, bool kRowBlocks>
void MultiplyByScaledCodeTables(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  constexpr int kBlockRows = kTableBlockRows;
  static_assert(kBlockRows == kRowBlockRows);
  const WeightsView& b = args.b;
  const bool row_blocks =
      kRowBlocks && b.row_block_codes != nullptr && n_begin % kRowBlockRows == 0;
  const ScaledCodeTable<kKind>& table = ScaledCodes<kKind>();
  const int64_t windows = b.k / kColumnWindowK;
  // Scratch: the row slots, then the column windows where the buffer keeps none.
  const int64_t window_bytes = b.k * 2 * args.m + 64;
  auto* scratch = static_cast<uint8_t*>(ThreadScratch(sizeof(TableRowSlots) + window_bytes));
  auto* slots = reinterpret_cast<TableRowSlots*>(scratch);
  // Window w's even-k then odd-k activation tiles, each 16 rows of 4m bytes.
  const uint16_t* activations = args.a_bf16.windows;
  if (activations == nullptr) {
    auto* packed = reinterpret_cast<uint16_t*>(scratch + sizeof(TableRowSlots));
    PackColumnWindows(args, packed);
    activations = packed;
  }
  const int64_t activation_row_bytes = 4 * args.m;
  const __m512i block_bits = _mm512_setr_epi64(0, 0, 0x0010001000100010, 0x0010001000100010,
                                               0x0020002000200020, 0x0020002000200020,
                                               0x0030003000300030, 0x0030003000300030);
  // From one window of a row to its next: the next 32 code bytes and 4 scale bytes of the row,
  // or of the block (the rows of a block follow each other).
  const int64_t code_step = row_blocks ? kRowBlockRows * 32 : 32;
  const int64_t scale_step = row_blocks ? kRowBlockRows * 4 : 4;
  const int64_t code_row = b.k / 2, scale_row = b.k / 16;
  const int m = static_cast<int>(args.m);
  ConfigureTableTiles(m);
  for (int64_t n0 = n_begin; n0 < n_end; n0 += kBlockRows) {
    // Rows past n_end repeat the last one, or are the block's next rows; their sums are not
    // kept.
    const uint8_t* codes[kBlockRows];
    const uint8_t* scales[kBlockRows];
    for (int i = 0; i < kBlockRows; ++i) {
      const int64_t n = n0 + i < n_end ? n0 + i : n_end - 1;
      codes[i] = row_blocks ? b.row_block_codes + n0 * code_row + 32 * i : b.codes + n * code_row;
      scales[i] =
          row_blocks ? b.row_block_scales + n0 * scale_row + 4 * i : b.scales + n * scale_row;
    }
    const auto decode = [&](int64_t window, int slot) {
      if constexpr (DriverOmits<F>::kDecode) return;
      for (int i = 0; i < kBlockRows; ++i) {
        DecodeWindow<kKind>(table, codes[i] + window * code_step, scales[i] + window * scale_step,
                            block_bits, (*slots)[slot][i]);
      }
    };
    _tile_zero(0);
    _tile_zero(1);
    decode(0, 0);
    for (int64_t window = 0; window < windows; ++window) {
      const int slot = static_cast<int>(window & 1);
      // The next window's rows decode while this one's tile products run.
      if (window + 1 < windows) decode(window + 1, slot ^ 1);
      // Each row's codes one line (2 windows) and its scales 16 windows ahead of the decode;
      // by row blocks, the block's window (16 lines of codes, 2 of scales).
      if (const int64_t ahead = window + kTablePrefetchWindows;
          !DriverOmits<F>::kPrefetches && ahead < windows) {
        if (row_blocks) {
          for (int line = 0; line < kRowBlockRows * 32 / 64; ++line) {
            __builtin_prefetch(codes[0] + ahead * code_step + 64 * line, 0, 3);
          }
          __builtin_prefetch(scales[0] + ahead * scale_step, 0, 3);
          __builtin_prefetch(scales[0] + ahead * scale_step + 64, 0, 3);
        } else if (ahead % 2 == 0) {
          for (int i = 0; i < kBlockRows; ++i) {
            __builtin_prefetch(codes[i] + ahead * 32, 0, 3);
            if (ahead % 16 == 0) __builtin_prefetch(scales[i] + ahead * 4, 0, 3);
          }
        }
      }
      if constexpr (DriverOmits<F>::kBlockSums) continue;
      const uint16_t* even_k = activations + window * kColumnWindowK * args.m;
      const uint16_t* odd_k = even_k + 32 * args.m;
      _tile_loadd(2, even_k, activation_row_bytes);
      _tile_loadd(3, odd_k, activation_row_bytes);
      _tile_loadd(4, (*slots)[slot][0][0], 2 * 64);
      _tile_loadd(5, (*slots)[slot][0][1], 2 * 64);
      _tile_loadd(6, (*slots)[slot][16][0], 2 * 64);
      _tile_loadd(7, (*slots)[slot][16][1], 2 * 64);
      _tile_dpbf16ps(0, 4, 2);
      _tile_dpbf16ps(0, 5, 3);
      _tile_dpbf16ps(1, 6, 2);
      _tile_dpbf16ps(1, 7, 3);
    }
    // [half][row][column]: the halves' C^T.
    alignas(64) float sums[2][16][16];
    _tile_stored(0, sums[0], 64);
    _tile_stored(1, sums[1], 64);
    // C^T to C, x tensor_scale (element by element: a loop that is no library call).
    for (int i = 0; i < kBlockRows && n0 + i < n_end; ++i) {
      for (int j = 0; j < m; ++j) {
        args.c[j * args.ldc + n0 + i] = sums[i / 16][i % 16][j] * b.tensor_scale;
      }
    }
  }
  _tile_release();
}

// C[0:m, n_begin:n_end] for E2M1 weights: products of at most kColumnWindowMaxRows rows, k a
// multiple of 64, with E4M3 or E8M0 scales by scaled-code tables; others by the panel driver,
// scheduled as S says.
template <typename F, ScaleKind kKind, bool kRowBlocks = false, typename S = DefaultSchedule>
void MultiplyE2m1W4a16AmxTables(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  if constexpr (kKind == ScaleKind::kE4M3 || kKind == ScaleKind::kE8M0) {
    static_assert(kColumnWindowMaxRows == 16);
    if (args.m <= kColumnWindowMaxRows && args.b.k % kColumnWindowK == 0) {
      MultiplyByScaledCodeTables<F, kKind, kRowBlocks>(args, n_begin, n_end);
      return;
    }
  }
  MultiplyW4a16Amx<F, S>(args, n_begin, n_end);
}

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_E2M1_W4A16_AMX_TABLES_H_
