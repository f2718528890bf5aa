// E2M1 weights x BF16 activations on AMX-BF16 (TDPBF16PS), for many rows. Blocks of 32 rows x
// 32 columns use 4 accumulator tiles. Each 32-column weight panel of a k block is decoded once
// (E2M1 x block scale rounded to BF16 as the reference: vpermw from a per-block-pair table)
// into the VNNI pair layout the B tiles want (row r: 16 columns x k 2r, 2r + 1) and reused for
// every row block; A tiles are the BF16 activations as they are (16 rows x 32 k). The tiles
// sum in float over the k block, C adds the blocks and takes tensor_scale at the end.
#include <cstdint>
#include <cstring>

#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#if defined(FP4MOE_AMX_EMULATION)
#include "kernels/amx_emulation.h"
#endif

namespace fp4moe::kernels {
namespace {

constexpr int kTileRows = 16;
constexpr int kBlockRows = 32;
constexpr int kBlockColumns = 32;
// k per block (a multiple of 256): the activation block (m x kKBlock BF16) stays in L2 across
// the column blocks, the 64 KB panel in L2 across the row blocks.
constexpr int64_t kKBlock = 1024;
// Elements of one column decoded per step: 16 blocks, one vector of scales.
constexpr int kSpan = 256;

// Tiles (literal numbers: the native intrinsics paste them into the assembly): accumulators
// 0..3 = C[row tile][column tile] at 2 * row tile + column tile, activations 4 and 5 (row
// tiles), weights 6 and 7 (column tiles).

struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t column_bytes[16] = {};
  uint8_t rows[16] = {};
};

// Per-thread scratch (no allocation per call).
struct Scratch {
  // Decoded weights of one column block: per 16-column tile, kKBlock / 2 VNNI rows of 16
  // columns x 2 consecutive k.
  alignas(64) uint16_t panel[2][kKBlock / 2][32];
  // One column tile's columns decoded over kSpan k, before the transpose into the panel.
  alignas(64) uint16_t columns[16][kSpan];
  // The last, partial row block of A, zero-padded to 32 rows.
  alignas(64) uint16_t a_tail[kBlockRows][kKBlock];
  alignas(64) float sums[kBlockRows][kBlockColumns];
};
thread_local Scratch scratch;

#if defined(FP4MOE_SIMDE)
// SIMDe 0.7.4 has no vcvtne2ps2bf16: round to nearest even on the bits (inputs are finite).
__m512i FloatsToBf16(__m512 high, __m512 low) {
  const auto round = [](__m512 v) {
    const __m512i bits = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    return _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
  };
  // The upper word of every dword, low's 16 then high's 16.
  const __m512i upper_words = _mm512_set_epi16(
      63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29, 27, 25, 23, 21, 19,
      17, 15, 13, 11, 9, 7, 5, 3, 1);
  return _mm512_permutex2var_epi16(round(low), upper_words, round(high));
}
#else
__m512i FloatsToBf16(__m512 high, __m512 low) {
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(high, low));
}
#endif

// The 16 weight block scales at `scales`, one per lane.
template <ScaleKind kKind>
__m512 LoadBlockScales(const uint8_t* scales) {
  if constexpr (kKind == ScaleKind::kFloat32) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(scales));
  } else {
    // Scale byte L to the top byte of dword lane L, the rest zero.
    const __m512i index = _mm512_set_epi32(15 << 24, 14 << 24, 13 << 24, 12 << 24, 11 << 24,
                                           10 << 24, 9 << 24, 8 << 24, 7 << 24, 6 << 24,
                                           5 << 24, 4 << 24, 3 << 24, 2 << 24, 1 << 24, 0);
    const __m512i top = _mm512_maskz_permutexvar_epi8(
        0x8888888888888888ull, index,
        _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales))));
    if constexpr (kKind == ScaleKind::kE4M3) {
      // Sign to bit 31 and magnitude to bits 20..26: as float bits that is the value x 2^-120,
      // exact for normals and subnormals alike.
      const __m512i bits = _mm512_and_si512(_mm512_srai_epi16(top, 4),
                                            _mm512_set1_epi32(static_cast<int>(0x87F00000u)));
      return _mm512_mul_ps(_mm512_castsi512_ps(bits), _mm512_set1_ps(0x1p120f));
    } else {
      // E8M0: the code is the float exponent; code 0 (2^-127) is the float subnormal
      // 0x00400000.
      const __m512i bits = _mm512_srli_epi32(top, 1);
      const __mmask16 code_zero = _mm512_cmpeq_epi32_mask(bits, _mm512_setzero_si512());
      return _mm512_castsi512_ps(
          _mm512_mask_or_epi32(bits, code_zero, bits, _mm512_set1_epi32(0x00400000)));
    }
  }
}

// 32 weights (16 code bytes of blocks A and B) decoded with their scales to BF16, code byte i
// in dword lane i (low nibble in the low word): one VNNI pair per lane.
__m512i DecodePair(const uint8_t* codes, __m512 first_scale, __m512 second_scale) {
  const __m512 e2m1_values = _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
                                            -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f,
                                            -6.0f);
  // Code byte i to bytes 0 and 2 of dword i; the high word then shifts right by 4.
  const __m512i spread_codes = _mm512_set_epi32(
      0x000F000F, 0x000E000E, 0x000D000D, 0x000C000C, 0x000B000B, 0x000A000A, 0x00090009,
      0x00080008, 0x00070007, 0x00060006, 0x00050005, 0x00040004, 0x00030003, 0x00020002,
      0x00010001, 0x00000000);
  const __m512i nibble_shifts = _mm512_set1_epi32(0x00040000);
  const __m512i nibble_mask = _mm512_set1_epi32(0x000F000F);
  // Dword lanes 8..15 hold the second block: its half of the table.
  const __m512i second_block = _mm512_set_epi32(
      0x00100010, 0x00100010, 0x00100010, 0x00100010, 0x00100010, 0x00100010, 0x00100010,
      0x00100010, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i table = FloatsToBf16(_mm512_mul_ps(e2m1_values, second_scale),
                                     _mm512_mul_ps(e2m1_values, first_scale));
  const __m512i packed =
      _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes)));
  const __m512i nibbles = _mm512_srlv_epi16(
      _mm512_maskz_permutexvar_epi8(0x5555555555555555ull, spread_codes, packed), nibble_shifts);
  // (nibbles & mask) | second_block
  const __m512i index = _mm512_ternarylogic_epi32(nibbles, nibble_mask, second_block, 0xEA);
  return _mm512_permutexvar_epi16(index, table);
}

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
  const __m512 block_scales = LoadBlockScales<kKind>(scales);
  for (int pair = 0; pair < (length + 31) / 32; ++pair) {
    _mm512_store_si512(
        target + 32 * pair,
        DecodePair(codes + 16 * pair,
                   _mm512_permutexvar_ps(_mm512_set1_epi32(2 * pair), block_scales),
                   _mm512_permutexvar_ps(_mm512_set1_epi32(2 * pair + 1), block_scales)));
  }
}

// 16 x 16 dword transpose: rows[j] dword c <- columns[c] dword j.
void TransposeDwords(const __m512i columns[16], __m512i rows[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(columns[2 * i], columns[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(columns[2 * i], columns[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    u[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  // u[4i + q], 128-bit lane l, holds columns 4i..4i+3 of row 4l + q.
  for (int q = 0; q < 4; ++q) {
    const __m512i s0 = _mm512_shuffle_i32x4(u[q], u[4 + q], 0x44);
    const __m512i s1 = _mm512_shuffle_i32x4(u[q], u[4 + q], 0xEE);
    const __m512i s2 = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0x44);
    const __m512i s3 = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0xEE);
    rows[0 + q] = _mm512_shuffle_i32x4(s0, s2, 0x88);
    rows[4 + q] = _mm512_shuffle_i32x4(s0, s2, 0xDD);
    rows[8 + q] = _mm512_shuffle_i32x4(s1, s3, 0x88);
    rows[12 + q] = _mm512_shuffle_i32x4(s1, s3, 0xDD);
  }
}

// Decodes columns [n0, n0 + columns) x k [k0, k0 + kc) into scratch.panel (missing columns
// zero). A decoded column holds one k pair per dword: transposing 16 columns gives 16 B rows.
template <ScaleKind kKind>
void DecodePanel(const WeightsView& b, int64_t n0, int columns, int64_t k0, int64_t kc) {
  for (int tile = 0; tile < 2; ++tile) {
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
  for (int r = 0; r < rows; ++r) {
    float* c = args.c + (m0 + r) * args.ldc + n0;
    for (int j = 0; j < columns; ++j) {
      c[j] = ((first ? 0.0f : c[j]) + scratch.sums[r][j]) * scale;
    }
  }
}

// One block of up to 32 rows (two row tiles, or one when `rows` <= 16) x 32 columns over the
// k block into scratch.sums. `a` is the block's first row at k0, `a_stride` its row stride in
// bytes.
template <bool kTwoRowTiles>
void MultiplyBlock(const uint16_t* a, int64_t a_stride, int64_t kc, int k_step) {
  _tile_zero(0);
  _tile_zero(1);
  if (kTwoRowTiles) {
    _tile_zero(2);
    _tile_zero(3);
  }
  for (int64_t kk = 0; kk < kc; kk += k_step) {
    _tile_loadd(6, scratch.panel[0][kk / 2], 64);
    _tile_loadd(7, scratch.panel[1][kk / 2], 64);
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
  TileConfig config;
  for (int t = 0; t < 4; ++t) {
    config.rows[t] = kTileRows;
    config.column_bytes[t] = 64;
  }
  for (int t = 4; t < 6; ++t) {
    config.rows[t] = kTileRows;
    config.column_bytes[t] = static_cast<uint16_t>(2 * k_step);
  }
  for (int t = 6; t < 8; ++t) {
    config.rows[t] = static_cast<uint8_t>(k_step / 2);
    config.column_bytes[t] = 64;
  }
  _tile_loadconfig(&config);

  const int64_t full_rows = m / kBlockRows * kBlockRows;
  const int tail_rows = static_cast<int>(m - full_rows);
  const int64_t a_stride = b.k * static_cast<int64_t>(sizeof(uint16_t));
  for (int64_t k0 = 0; k0 < b.k; k0 += kKBlock) {
    const int64_t kc = b.k - k0 < kKBlock ? b.k - k0 : kKBlock;
    const bool first = k0 == 0;
    const bool last = k0 + kc == b.k;
    if (tail_rows > 0) {
      for (int r = 0; r < kBlockRows; ++r) {
        if (r < tail_rows) {
          std::memcpy(scratch.a_tail[r], args.a_bf16.values + (full_rows + r) * b.k + k0,
                      kc * sizeof(uint16_t));
        } else {
          std::memset(scratch.a_tail[r], 0, kc * sizeof(uint16_t));
        }
      }
    }
    for (int64_t n0 = n_begin; n0 < n_end; n0 += kBlockColumns) {
      const int columns =
          n_end - n0 < kBlockColumns ? static_cast<int>(n_end - n0) : kBlockColumns;
      DecodePanel<kKind>(b, n0, columns, k0, kc);
      for (int64_t m0 = 0; m0 < full_rows; m0 += kBlockRows) {
        MultiplyBlock<true>(args.a_bf16.values + m0 * b.k + k0, a_stride, kc, k_step);
        AddSums(args, m0, kBlockRows, n0, columns, first, last);
      }
      constexpr int64_t kTailStride = sizeof scratch.a_tail[0];
      if (tail_rows > kTileRows) {
        MultiplyBlock<true>(&scratch.a_tail[0][0], kTailStride, kc, k_step);
      } else if (tail_rows > 0) {
        MultiplyBlock<false>(&scratch.a_tail[0][0], kTailStride, kc, k_step);
      }
      if (tail_rows > 0) AddSums(args, full_rows, tail_rows, n0, columns, first, last);
    }
  }
  _tile_release();
}

}  // namespace

void FP4MOE_MICROKERNEL(fp4_w4a16_32x32_amx)(const GemmArgs& args, int64_t n_begin,
                                               int64_t n_end) {
  switch (args.b.scale_kind) {
    case ScaleKind::kE4M3:
      return Multiply<ScaleKind::kE4M3>(args, n_begin, n_end);
    case ScaleKind::kE8M0:
      return Multiply<ScaleKind::kE8M0>(args, n_begin, n_end);
    case ScaleKind::kFloat32:
      return Multiply<ScaleKind::kFloat32>(args, n_begin, n_end);
    case ScaleKind::kBf16:
      break;  // INT4 K2 only, another path
  }
}

}  // namespace fp4moe::kernels
