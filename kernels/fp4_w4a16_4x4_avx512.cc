// E2M1 weights x BF16 activations with AVX-512 BF16; tiles of 4 rows of A x 4 columns of B.
//
// Weights decode 32 at a time (16 code bytes, 2 blocks) by one vpermw from a 32-entry table:
// the 16 E2M1 values times block A's scale and times block B's, rounded to BF16 (round to
// nearest even, as the scalar reference; exact for E4M3 and E8M0 scales). Code byte i sits in
// dword lane i, low nibble in the low word: exactly the adjacent pair vdpbf16ps multiplies with
// activation elements 2i and 2i+1, so activations are read as they are.
#include <cstring>

#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {
namespace {

constexpr int kRowTile = 4;
constexpr int kColumnTile = 4;
constexpr int kChunk = 256;  // elements per step: 128 code bytes, 16 blocks

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

__m512bh AsBf16(__m512i v) {
  __m512bh bf16;
  std::memcpy(&bf16, &v, sizeof bf16);
  return bf16;
}
#else
__m512i FloatsToBf16(__m512 high, __m512 low) {
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(high, low));
}

__m512bh AsBf16(__m512i v) { return reinterpret_cast<__m512bh>(v); }
#endif

float HorizontalSum(__m512 v) {
  const __m256 half = _mm256_add_ps(_mm512_castps512_ps256(v),
                                    _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  __m128 quarter = _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
  quarter = _mm_add_ps(quarter, _mm_movehl_ps(quarter, quarter));
  quarter = _mm_add_ss(quarter, _mm_movehdup_ps(quarter));
  return _mm_cvtss_f32(quarter);
}

// 16 one-byte scales, byte L in the top byte of dword lane L, the rest zero.
__m512i ScaleBytesInTopByte(const uint8_t* scales) {
  const __m512i index = _mm512_set_epi32(15 << 24, 14 << 24, 13 << 24, 12 << 24, 11 << 24,
                                         10 << 24, 9 << 24, 8 << 24, 7 << 24, 6 << 24, 5 << 24,
                                         4 << 24, 3 << 24, 2 << 24, 1 << 24, 0);
  return _mm512_maskz_permutexvar_epi8(
      0x8888888888888888ull, index,
      _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales))));
}

// The 16 weight block scales of a chunk, one per lane.
template <ScaleKind kKind>
__m512 LoadBlockScales(const uint8_t* scales) {
  if constexpr (kKind == ScaleKind::kE4M3) {
    // Sign to bit 31 and magnitude to bits 20..26: as float bits that is the value x 2^-120,
    // exact for normals and subnormals alike.
    const __m512i top = _mm512_srai_epi16(ScaleBytesInTopByte(scales), 4);
    const __m512i bits = _mm512_and_si512(top, _mm512_set1_epi32(static_cast<int>(0x87F00000u)));
    return _mm512_mul_ps(_mm512_castsi512_ps(bits), _mm512_set1_ps(0x1p120f));
  } else if constexpr (kKind == ScaleKind::kE8M0) {
    // The code is the float exponent; code 0 (2^-127) is the float subnormal 0x00400000.
    const __m512i bits = _mm512_srli_epi32(ScaleBytesInTopByte(scales), 1);
    const __mmask16 code_zero = _mm512_cmpeq_epi32_mask(bits, _mm512_setzero_si512());
    return _mm512_castsi512_ps(
        _mm512_mask_or_epi32(bits, code_zero, bits, _mm512_set1_epi32(0x00400000)));
  } else {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(scales));
  }
}

// C[rows, columns] for kRows rows of A (BF16, row stride k) and kColumns columns from
// `first_column`.
template <ScaleKind kKind, int kRows, int kColumns>
void MultiplyTile(const WeightsView& b, const uint16_t* a, float* c, int64_t ldc,
                  int64_t first_column) {
  constexpr int kScaleBytes = kKind == ScaleKind::kFloat32 ? 4 : 1;
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
  const int64_t code_bytes = b.k / 2;
  const int64_t blocks = b.k / 16;
  const int64_t full_chunks = b.k / kChunk;
  const uint8_t* codes[kColumns];
  const uint8_t* scales[kColumns];
  for (int col = 0; col < kColumns; ++col) {
    codes[col] = b.codes + (first_column + col) * code_bytes;
    scales[col] = b.scales + (first_column + col) * blocks * kScaleBytes;
  }
  __m512 acc[kRows][kColumns];
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kColumns; ++col) acc[r][col] = _mm512_setzero_ps();
  }
  // Multiplies one chunk: `chunk_a` row r at chunk_a + r * a_stride.
  const auto multiply_chunk = [&](int col, const uint8_t* chunk_codes,
                                  const uint8_t* chunk_scales, const uint16_t* chunk_a,
                                  int64_t a_stride) {
    const __m512 block_scales = LoadBlockScales<kKind>(chunk_scales);
    for (int pair = 0; pair < kChunk / 32; ++pair) {
      const __m512 first_scale = _mm512_permutexvar_ps(_mm512_set1_epi32(2 * pair), block_scales);
      const __m512 second_scale =
          _mm512_permutexvar_ps(_mm512_set1_epi32(2 * pair + 1), block_scales);
      const __m512i table = FloatsToBf16(_mm512_mul_ps(e2m1_values, second_scale),
                                         _mm512_mul_ps(e2m1_values, first_scale));
      const __m512i packed = _mm512_castsi128_si512(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(chunk_codes + 16 * pair)));
      const __m512i nibbles = _mm512_srlv_epi16(
          _mm512_maskz_permutexvar_epi8(0x5555555555555555ull, spread_codes, packed),
          nibble_shifts);
      // (nibbles & mask) | second_block
      const __m512i index = _mm512_ternarylogic_epi32(nibbles, nibble_mask, second_block, 0xEA);
      const __m512bh weights = AsBf16(_mm512_permutexvar_epi16(index, table));
      for (int r = 0; r < kRows; ++r) {
        const __m512i activations = _mm512_loadu_si512(chunk_a + r * a_stride + 32 * pair);
        acc[r][col] = _mm512_dpbf16_ps(acc[r][col], AsBf16(activations), weights);
      }
    }
  };
  for (int64_t chunk = 0; chunk < full_chunks; ++chunk) {
    for (int col = 0; col < kColumns; ++col) {
      multiply_chunk(col, codes[col] + chunk * (kChunk / 2),
                     scales[col] + chunk * (kChunk / 16) * kScaleBytes, a + chunk * kChunk,
                     b.k);
    }
  }
  if (full_chunks * kChunk < b.k) {
    // k % 256 elements remain: copies padded with zero codes, scales and activations.
    const int64_t tail = b.k - full_chunks * kChunk;
    alignas(64) uint16_t tail_a[kRows][kChunk] = {};
    for (int r = 0; r < kRows; ++r) {
      std::memcpy(tail_a[r], a + r * b.k + full_chunks * kChunk, tail * sizeof(uint16_t));
    }
    for (int col = 0; col < kColumns; ++col) {
      alignas(64) uint8_t tail_codes[kChunk / 2] = {};
      alignas(64) uint8_t tail_scales[kChunk / 16 * 4] = {};
      std::memcpy(tail_codes, codes[col] + full_chunks * (kChunk / 2), tail / 2);
      std::memcpy(tail_scales, scales[col] + full_chunks * (kChunk / 16) * kScaleBytes,
                  tail / 16 * kScaleBytes);
      multiply_chunk(col, tail_codes, tail_scales, tail_a[0], kChunk);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kColumns; ++col) {
      c[r * ldc + first_column + col] = HorizontalSum(acc[r][col]) * b.tensor_scale;
    }
  }
}

template <ScaleKind kKind, int kColumns>
void MultiplyRows(const GemmArgs& args, int64_t first_row, int64_t rows, int64_t first_column) {
  const int64_t k = args.b.k;
  int64_t r = first_row;
  for (; r + kRowTile <= first_row + rows; r += kRowTile) {
    MultiplyTile<kKind, kRowTile, kColumns>(args.b, args.a_bf16.values + r * k,
                                            args.c + r * args.ldc, args.ldc, first_column);
  }
  const uint16_t* a = args.a_bf16.values + r * k;
  float* c = args.c + r * args.ldc;
  switch (first_row + rows - r) {
    case 1:
      MultiplyTile<kKind, 1, kColumns>(args.b, a, c, args.ldc, first_column);
      break;
    case 2:
      MultiplyTile<kKind, 2, kColumns>(args.b, a, c, args.ldc, first_column);
      break;
    case 3:
      MultiplyTile<kKind, 3, kColumns>(args.b, a, c, args.ldc, first_column);
      break;
  }
}

// Rows of A multiplied per pass over the columns, so that they stay in L2 while each column
// tile's codes stay in L1.
constexpr int64_t kRowBlock = 32;

template <ScaleKind kKind>
void Multiply(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  for (int64_t first_row = 0; first_row < args.m; first_row += kRowBlock) {
    const int64_t rows = args.m - first_row < kRowBlock ? args.m - first_row : kRowBlock;
    int64_t j = n_begin;
    for (; j + kColumnTile <= n_end; j += kColumnTile) {
      MultiplyRows<kKind, kColumnTile>(args, first_row, rows, j);
    }
    for (; j < n_end; ++j) MultiplyRows<kKind, 1>(args, first_row, rows, j);
  }
}

}  // namespace

void FP4MOE_MICROKERNEL(fp4_w4a16_4x4_avx512)(const GemmArgs& args, int64_t n_begin,
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
