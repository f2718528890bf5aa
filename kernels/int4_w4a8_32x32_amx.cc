// INT4 K2 weights x int8 activations on AMX (the kt-kernel k2-moe scheme): activation tiles
// (16 rows x 64 bytes of k) times weight tiles decoded to int8 in the VNNI layout, TDPBSSD,
// and per group of G the int32 tile sums scaled into float C. Blocks of 32 rows x 32 columns
// use 4 accumulator tiles; each 32-column weight panel of a k block is decoded once and reused
// for all m rows, so at large m the decode cost vanishes next to the tile products.
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
// k per block: the activation block (m x kKBlock bytes) stays in L2 across the column blocks,
// and a multiple of every G (32, 64, 128).
constexpr int64_t kKBlock = 1024;
constexpr int kMaxGroupsPerBlock = kKBlock / 32;

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
  // Decoded weights of one column block: per 16-column tile, kKBlock / 4 VNNI rows of 16
  // columns x 4 consecutive k.
  alignas(64) int8_t panel[2][kKBlock / 4][64];
  alignas(64) float weight_scales[kMaxGroupsPerBlock][kBlockColumns];
  // The last, partial row block of A, zero-padded to 32 rows.
  alignas(64) int8_t a_tail[kBlockRows][kKBlock];
  alignas(64) int32_t sums[kBlockRows][kBlockColumns];
};
thread_local Scratch scratch;

alignas(64) constexpr uint64_t kDuplicateQwords[8] = {0, 0, 1, 1, 2, 2, 3, 3};
// Bit offsets of the 8 nibbles in a qword: low half for even qwords, high for odd ones.
alignas(64) constexpr uint64_t kNibbleOffsets[8] = {
    0x1C1814100C080400, 0x3C3834302C282420, 0x1C1814100C080400, 0x3C3834302C282420,
    0x1C1814100C080400, 0x3C3834302C282420, 0x1C1814100C080400, 0x3C3834302C282420};

// Index i (6 bits) -> the two's-complement value of its low nibble.
struct SignedNibbleTable {
  alignas(64) int8_t values[64];
  constexpr SignedNibbleTable() : values() {
    for (int i = 0; i < 64; ++i) values[i] = static_cast<int8_t>((i & 15) < 8 ? (i & 15) : (i & 15) - 16);
  }
};
constexpr SignedNibbleTable kSignedNibbles;

__m512 Int32ToFloat(__m512i v) {
#if defined(FP4MOE_SIMDE)
  // SIMDe 0.7.4 lacks _mm512_cvtepi32_ps.
  return _mm512_insertf32x8(
      _mm512_castps256_ps512(_mm256_cvtepi32_ps(_mm512_castsi512_si256(v))),
      _mm256_cvtepi32_ps(_mm512_extracti64x4_epi64(v, 1)), 1);
#else
  return _mm512_cvtepi32_ps(v);
#endif
}

float ScaleValue(ScaleKind kind, const uint8_t* scales, int64_t index) {
  if (kind == ScaleKind::kBf16) {
    uint16_t bits;
    std::memcpy(&bits, scales + 2 * index, sizeof bits);
    const uint32_t wide = static_cast<uint32_t>(bits) << 16;
    float value;
    std::memcpy(&value, &wide, sizeof value);
    return value;
  }
  float value;
  std::memcpy(&value, scales + 4 * index, sizeof value);
  return value;
}

// 64 nibbles (32 code bytes, k ascending, low nibble first) -> 64 int8 in k order.
__m512i UnpackCodes(__m256i codes) {
  const __m512i wide = _mm512_inserti64x4(_mm512_setzero_si512(), codes, 0);
  const __m512i pairs =
      _mm512_permutexvar_epi64(_mm512_load_si512(kDuplicateQwords), wide);
  const __m512i nibbles =
      _mm512_multishift_epi64_epi8(_mm512_load_si512(kNibbleOffsets), pairs);
  return _mm512_permutexvar_epi8(nibbles, _mm512_load_si512(kSignedNibbles.values));
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
// zero) and their scales into scratch.weight_scales (missing columns zero).
void DecodePanel(const WeightsView& b, int64_t n0, int columns, int64_t k0, int64_t kc) {
  for (int tile = 0; tile < 2; ++tile) {
    for (int64_t kk = 0; kk < kc; kk += 64) {
      const bool half_chunk = kc - kk < 64;  // k a multiple of 32 but not of 64
      __m512i unpacked[16], rows[16];
      for (int c = 0; c < 16; ++c) {
        const int column = tile * 16 + c;
        if (column >= columns) {
          unpacked[c] = _mm512_setzero_si512();
          continue;
        }
        const uint8_t* codes = b.codes + (n0 + column) * (b.k / 2) + (k0 + kk) / 2;
        const __m256i bytes =
            half_chunk ? _mm256_inserti128_si256(_mm256_setzero_si256(),
                                                 _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes)), 0)
                       : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes));
        unpacked[c] = UnpackCodes(bytes);
      }
      TransposeDwords(unpacked, rows);
      const int valid_rows = half_chunk ? 8 : 16;
      for (int r = 0; r < valid_rows; ++r) {
        _mm512_store_si512(scratch.panel[tile][kk / 4 + r], rows[r]);
      }
    }
  }
  const int64_t groups = b.k / b.block;
  for (int64_t g = 0; g < kc / b.block; ++g) {
    for (int c = 0; c < kBlockColumns; ++c) {
      scratch.weight_scales[g][c] =
          c < columns ? ScaleValue(b.scale_kind, b.scales, (n0 + c) * groups + k0 / b.block + g)
                      : 0.0f;
    }
  }
}

// C[rows, columns] (+)= sums * a_scale[row] * weight_scale[column] for group `g` of the block.
void ScaleSums(const GemmArgs& args, int64_t m0, int rows, int64_t n0, int columns,
               int64_t group_index, int g, bool first) {
  const int64_t groups = args.b.k / args.b.block;
  for (int r = 0; r < rows; ++r) {
    const float a_scale = args.a_int8.scales[(m0 + r) * groups + group_index];
    float* c_row = args.c + (m0 + r) * args.ldc + n0;
    for (int tile = 0; tile < 2 && tile * 16 < columns; ++tile) {
      if (columns - tile * 16 >= 16) {
        const __m512 scale =
            _mm512_mul_ps(_mm512_load_ps(&scratch.weight_scales[g][tile * 16]), _mm512_set1_ps(a_scale));
        const __m512 sums = Int32ToFloat(_mm512_load_si512(&scratch.sums[r][tile * 16]));
        float* c = c_row + tile * 16;
        _mm512_storeu_ps(c, first ? _mm512_mul_ps(sums, scale)
                                  : _mm512_fmadd_ps(sums, scale, _mm512_loadu_ps(c)));
      } else {
        for (int j = tile * 16; j < columns; ++j) {
          const float term = static_cast<float>(scratch.sums[r][j]) *
                             (scratch.weight_scales[g][j] * a_scale);
          c_row[j] = first ? term : c_row[j] + term;
        }
      }
    }
  }
}

// One block of up to 32 rows (two row tiles, or one when `rows` <= 16) x 32 columns over the
// k block: per group, tile products in int32, then scaled into C.
template <bool kTwoRowTiles>
void MultiplyBlock(const GemmArgs& args, const int8_t* a, int64_t a_stride, int64_t m0,
                   int rows, int64_t n0, int columns, int64_t k0, int64_t kc, int64_t k_step) {
  const int64_t group = args.b.block;
  for (int64_t gk = 0; gk < kc; gk += group) {
    _tile_zero(0);
    _tile_zero(1);
    if (kTwoRowTiles) {
      _tile_zero(2);
      _tile_zero(3);
    }
    for (int64_t kk = gk; kk < gk + group; kk += k_step) {
      _tile_loadd(6, scratch.panel[0][kk / 4], 64);
      _tile_loadd(7, scratch.panel[1][kk / 4], 64);
      _tile_loadd(4, a + kk, a_stride);
      _tile_dpbssd(0, 4, 6);
      _tile_dpbssd(1, 4, 7);
      if (kTwoRowTiles) {
        _tile_loadd(5, a + kTileRows * a_stride + kk, a_stride);
        _tile_dpbssd(2, 5, 6);
        _tile_dpbssd(3, 5, 7);
      }
    }
    constexpr int64_t kSumsStride = sizeof scratch.sums[0];
    _tile_stored(0, &scratch.sums[0][0], kSumsStride);
    _tile_stored(1, &scratch.sums[0][16], kSumsStride);
    if (kTwoRowTiles) {
      _tile_stored(2, &scratch.sums[16][0], kSumsStride);
      _tile_stored(3, &scratch.sums[16][16], kSumsStride);
    }
    ScaleSums(args, m0, rows, n0, columns, (k0 + gk) / group, static_cast<int>(gk / group),
              k0 == 0 && gk == 0);
  }
}

}  // namespace

void FP4MOE_MICROKERNEL(int4_w4a8_32x32_amx)(const GemmArgs& args, int64_t n_begin,
                                               int64_t n_end) {
  const WeightsView& b = args.b;
  const int64_t m = args.m;
  // A tile spans one group (G = 32) or 64 bytes of k (G = 64, 128: two or more per group).
  const int k_step = b.block < 64 ? static_cast<int>(b.block) : 64;
  TileConfig config;
  for (int t = 0; t < 4; ++t) {
    config.rows[t] = kTileRows;
    config.column_bytes[t] = 64;
  }
  for (int t = 4; t < 6; ++t) {
    config.rows[t] = kTileRows;
    config.column_bytes[t] = k_step;
  }
  for (int t = 6; t < 8; ++t) {
    config.rows[t] = k_step / 4;
    config.column_bytes[t] = 64;
  }
  _tile_loadconfig(&config);

  const int64_t full_rows = m / kBlockRows * kBlockRows;
  const int tail_rows = static_cast<int>(m - full_rows);
  for (int64_t k0 = 0; k0 < b.k; k0 += kKBlock) {
    const int64_t kc = b.k - k0 < kKBlock ? b.k - k0 : kKBlock;
    if (tail_rows > 0) {
      for (int r = 0; r < kBlockRows; ++r) {
        if (r < tail_rows) {
          std::memcpy(scratch.a_tail[r], args.a_int8.values + (full_rows + r) * b.k + k0, kc);
        } else {
          std::memset(scratch.a_tail[r], 0, kc);
        }
      }
    }
    for (int64_t n0 = n_begin; n0 < n_end; n0 += kBlockColumns) {
      const int columns = n_end - n0 < kBlockColumns ? static_cast<int>(n_end - n0) : kBlockColumns;
      DecodePanel(b, n0, columns, k0, kc);
      for (int64_t m0 = 0; m0 < full_rows; m0 += kBlockRows) {
        MultiplyBlock<true>(args, args.a_int8.values + m0 * b.k + k0, b.k, m0, kBlockRows, n0,
                            columns, k0, kc, k_step);
      }
      if (tail_rows > kTileRows) {
        MultiplyBlock<true>(args, &scratch.a_tail[0][0], kKBlock, full_rows, tail_rows, n0,
                            columns, k0, kc, k_step);
      } else if (tail_rows > 0) {
        MultiplyBlock<false>(args, &scratch.a_tail[0][0], kKBlock, full_rows, tail_rows, n0,
                             columns, k0, kc, k_step);
      }
    }
  }
  _tile_release();
}

}  // namespace fp4moe::kernels
