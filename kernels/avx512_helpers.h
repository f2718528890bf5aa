#ifndef FP4MOE_KERNELS_AVX512_HELPERS_H_
#define FP4MOE_KERNELS_AVX512_HELPERS_H_

// Helpers shared by the AVX-512 and AMX microkernels, natively and through SIMDe. All of them
// live in an anonymous namespace: each including file gets its own copy compiled with its own
// ISA flags, so that no copy built with other flags can replace it at link time (see
// kernels/microkernel.bzl on the ODR trap).

#include <cstdint>
#include <cstring>

#include "kernels/microkernel.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {
namespace {

#if defined(FP4MOE_SIMDE)
// SIMDe 0.7.4 lacks _mm512_cvtepi32_ps: two 256-bit halves do the same.
[[maybe_unused]] __m512 Int32ToFloat(__m512i v) {
  const __m256 low = _mm256_cvtepi32_ps(_mm512_castsi512_si256(v));
  const __m256 high = _mm256_cvtepi32_ps(_mm512_extracti64x4_epi64(v, 1));
  return _mm512_insertf32x8(_mm512_castps256_ps512(low), high, 1);
}
#else
[[maybe_unused]] __m512 Int32ToFloat(__m512i v) { return _mm512_cvtepi32_ps(v); }
#endif

// The `bytes` (< 64) bytes at p, zero above, reading nothing past them. Natively a masked
// load, which calls no library function: the AMX drivers load partial rows between tile
// instructions, where a call may lose the tile configuration (kernels/w4a16_amx_driver.h).
// SIMDe 0.7.4 has no masked byte loads.
#if defined(FP4MOE_SIMDE)
[[maybe_unused]] __m512i LoadPrefix(const uint8_t* p, int64_t bytes) {
  alignas(64) uint8_t padded[64] = {};
  std::memcpy(padded, p, bytes);
  return _mm512_load_si512(padded);
}
#else
[[maybe_unused]] __m512i LoadPrefix(const uint8_t* p, int64_t bytes) {
  return _mm512_maskz_loadu_epi8(~0ull >> (64 - bytes), p);
}
#endif

// The sum of the 16 lanes, in the order of _mm512_reduce_add_ps (which SIMDe 0.7.4 lacks).
[[maybe_unused]] float HorizontalSum(__m512 v) {
  const __m256 half = _mm256_add_ps(_mm512_castps512_ps256(v),
                                    _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  __m128 quarter = _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
  quarter = _mm_add_ps(quarter, _mm_movehl_ps(quarter, quarter));
  quarter = _mm_add_ss(quarter, _mm_movehdup_ps(quarter));
  return _mm_cvtss_f32(quarter);
}

// The float accumulator of the AVX-512 kernels' driver loops (kernels/*_driver.h): 16 lanes.
struct Avx512Accumulator {
  using Acc = __m512;
  static __m512 Zero() { return _mm512_setzero_ps(); }
  static float Sum(__m512 v) { return HorizontalSum(v); }
};

// One-byte E4M3 or E8M0 scales in the top byte of each dword lane (the rest zero) -> their
// float values.
template <ScaleKind kKind>
__m512 DecodeTopByteScales(__m512i top) {
  static_assert(kKind == ScaleKind::kE4M3 || kKind == ScaleKind::kE8M0);
  if constexpr (kKind == ScaleKind::kE4M3) {
    // Sign to bit 31 and magnitude to bits 20..26: as float bits that is the value x 2^-120,
    // exact for normals and subnormals alike.
    const __m512i bits =
        _mm512_and_si512(_mm512_srai_epi16(top, 4), _mm512_set1_epi32(static_cast<int>(0x87F00000u)));
    return _mm512_mul_ps(_mm512_castsi512_ps(bits), _mm512_set1_ps(0x1p120f));
  } else {
    // E8M0: the code is the float exponent; code 0 (2^-127) is the float subnormal 0x00400000.
    const __m512i bits = _mm512_srli_epi32(top, 1);
    const __mmask16 code_zero = _mm512_cmpeq_epi32_mask(bits, _mm512_setzero_si512());
    return _mm512_castsi512_ps(
        _mm512_mask_or_epi32(bits, code_zero, bits, _mm512_set1_epi32(0x00400000)));
  }
}

// 16 one-byte weight block scales (E4M3 or E8M0), byte L -> lane L.
template <ScaleKind kKind>
__m512 DecodeBlockScaleBytes(__m128i bytes) {
  // Scale byte L to the top byte of dword lane L, the rest zero.
  const __m512i index = _mm512_set_epi32(15 << 24, 14 << 24, 13 << 24, 12 << 24, 11 << 24,
                                         10 << 24, 9 << 24, 8 << 24, 7 << 24, 6 << 24, 5 << 24,
                                         4 << 24, 3 << 24, 2 << 24, 1 << 24, 0);
  return DecodeTopByteScales<kKind>(_mm512_maskz_permutexvar_epi8(
      0x8888888888888888ull, index, _mm512_castsi128_si512(bytes)));
}

// The 16 weight block scales at `scales` (E4M3, E8M0 or float32), one per lane.
template <ScaleKind kKind>
__m512 LoadBlockScales(const uint8_t* scales) {
  if constexpr (kKind == ScaleKind::kFloat32) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(scales));
  } else {
    return DecodeBlockScaleBytes<kKind>(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(scales)));
  }
}

// 16 x 16 dword transpose: rows[j] dword c <- columns[c] dword j.
[[maybe_unused]] void TransposeDwords(const __m512i columns[16], __m512i rows[16]) {
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

// --- E2M1 weights decoded with their block scales to BF16 ---

// Float bits rounded to nearest even at bit 16: the top half of each lane is the BF16 (inputs
// finite; one that rounds past the largest BF16 becomes infinity).
[[maybe_unused]] __m512i RoundToBf16Bits(__m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  return _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
}

#if defined(FP4MOE_SIMDE)
// SIMDe 0.7.4 has no vcvtne2ps2bf16.
[[maybe_unused]] __m512i FloatsToBf16(__m512 high, __m512 low) {
  // The upper word of every dword, low's 16 then high's 16.
  const __m512i upper_words = _mm512_set_epi16(
      63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29, 27, 25, 23, 21, 19,
      17, 15, 13, 11, 9, 7, 5, 3, 1);
  return _mm512_permutex2var_epi16(RoundToBf16Bits(low), upper_words, RoundToBf16Bits(high));
}

[[maybe_unused]] __m512bh AsBf16(__m512i v) {
  __m512bh bf16;
  std::memcpy(&bf16, &v, sizeof bf16);
  return bf16;
}
#else
[[maybe_unused]] __m512i FloatsToBf16(__m512 high, __m512 low) {
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(high, low));
}

[[maybe_unused]] __m512bh AsBf16(__m512i v) { return reinterpret_cast<__m512bh>(v); }
#endif

// The value of each 4-bit code as a float, lane = code: E2M1, and INT4 two's complement.
[[maybe_unused]] __m512 E2m1Values() {
  return _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f,
                        -1.5f, -2.0f, -3.0f, -4.0f, -6.0f);
}
[[maybe_unused]] __m512 Int4Values() {
  return _mm512_setr_ps(0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f, -8.0f, -7.0f, -6.0f,
                        -5.0f, -4.0f, -3.0f, -2.0f, -1.0f);
}

// 32 weights (16 code bytes of blocks A and B) decoded with their scales to BF16, code byte i
// in dword lane i (low nibble in the low word): one vdpbf16ps / VNNI pair per lane. The table
// (`values` x scale) is rounded to BF16 once, so each weight is its code's value x scale
// rounded to nearest even.
[[maybe_unused]] __m512i DecodePair(const uint8_t* codes, __m512 values, __m512 first_scale,
                                    __m512 second_scale) {
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
  const __m512i table = FloatsToBf16(_mm512_mul_ps(values, second_scale),
                                     _mm512_mul_ps(values, first_scale));
  const __m512i packed =
      _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes)));
  const __m512i nibbles = _mm512_srlv_epi16(
      _mm512_maskz_permutexvar_epi8(0x5555555555555555ull, spread_codes, packed), nibble_shifts);
  // (nibbles & mask) | second_block
  const __m512i index = _mm512_ternarylogic_epi32(nibbles, nibble_mask, second_block, 0xEA);
  return _mm512_permutexvar_epi16(index, table);
}

// Decodes `pairs` (at most 8) pairs of blocks from 16 block scales and their codes into
// 32 x `pairs` BF16 weights at `out`.
template <ScaleKind kKind>
void DecodeSpan(const uint8_t* codes, const uint8_t* scales, int pairs, uint16_t* out) {
  const __m512 block_scales = LoadBlockScales<kKind>(scales);
  for (int pair = 0; pair < pairs; ++pair) {
    _mm512_store_si512(
        out + 32 * pair,
        DecodePair(codes + 16 * pair, E2m1Values(),
                   _mm512_permutexvar_ps(_mm512_set1_epi32(2 * pair), block_scales),
                   _mm512_permutexvar_ps(_mm512_set1_epi32(2 * pair + 1), block_scales)));
  }
}

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_AVX512_HELPERS_H_
