// E2M1 weights x E2M1 activations by table lookup, AVX-512 (VBMI + VNNI), tiles of 4 rows of A
// x 4 columns of B. Per 256 elements of a row pair: the two 3-bit magnitudes of each element
// pair form a 6-bit index, vpermb reads 64 products x4 (0..144) from a 64-entry table, and
// vpdpbusd sums them (unsigned) times +-64 (signed: the XOR of the two sign bits), so that one
// int32 lane holds one 16-element block. Each block sum is scaled by both block scales into a
// float lane; the 16 lanes are summed once per output.
#include <cstdint>

#include "kernels/avx512_helpers.h"
#include "kernels/fp4_w4a4_lut_driver.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {
namespace {

// The signed multiplier is +-64 rather than +-1: +64 (0x40) and -64 (0xC0) differ only in bit
// 7, so one vpternlogd forms it from the two sign bits. Block sums stay below 16*144*64 < 2^22.
constexpr float kSignFactor = 64.0f;

// Adding an int32 in [-2^22, 2^22) to the bits of 1.5 * 2^23 gives the float 1.5 * 2^23 + x
// exactly: accumulating onto these bits and subtracting the float converts without vcvtdq2ps
// (which SIMDe 0.7.4 lacks).
constexpr int32_t kMagicBits = 0x4B400000;
constexpr float kMagic = 12582912.0f;

// |product| x 4 of two E2M1 magnitudes at index weight magnitude | activation magnitude << 3.
struct ProductTable {
  alignas(64) uint8_t bytes[64];
  constexpr ProductTable() : bytes() {
    constexpr int kDoubledMagnitude[8] = {0, 1, 2, 3, 4, 6, 8, 12};
    for (int a = 0; a < 8; ++a) {
      for (int w = 0; w < 8; ++w) {
        bytes[a * 8 + w] = static_cast<uint8_t>(kDoubledMagnitude[w] * kDoubledMagnitude[a]);
      }
    }
  }
};
constexpr ProductTable kProducts;

// vpternlogd truth tables, operands (A, B, C) = (0xF0, 0xCC, 0xAA).
constexpr int kSelectAByC = 0xE4;   // C ? A : B, bitwise
constexpr int kAAndBOrC = 0xEA;     // (A & B) | C
constexpr int kBXorAAndC = 0x6C;    // B ^ (A & C)

__m512i Bytes(int value) { return _mm512_set1_epi8(static_cast<char>(value)); }

// The 128 bytes at p as two vectors whose int32 lane q holds block q's first (second) 8
// elements, so that a lane of the dot product covers exactly one block.
void LoadBlockHalves(const uint8_t* p, __m512i& first, __m512i& second) {
  const __m512i low = _mm512_loadu_si512(p);
  const __m512i high = _mm512_loadu_si512(p + 64);
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  first = _mm512_permutex2var_epi32(low, even, high);
  second = _mm512_permutex2var_epi32(low, odd, high);
}

// 16 scale bytes widened to int32 lanes.
__m512i WidenBytes(const uint8_t* codes) {
  const __m512i copies =
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes)));
  // Int32 q takes byte q (every 128-bit lane holds all 16); index bytes with bit 7 set give 0.
  const __m512i spread = _mm512_or_si512(
      _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
      _mm512_set1_epi32(static_cast<int32_t>(0x80808000u)));
  return _mm512_shuffle_epi8(copies, spread);
}

// E4M3 codes to floats, exactly and without subnormal floats (which cost microcode assists and
// vanish under DAZ): magnitude bits under an exponent biased by 120, which gives subnormal codes
// (exponent 0) 2^-7 * (1 + m/8) where they mean 2^-6 * m/8 = 2 * that - 2^-6.
__m512 DecodeE4M3(const uint8_t* codes) {
  const __m512i code = WidenBytes(codes);
  const __m512i magnitude = _mm512_slli_epi32(_mm512_and_si512(code, _mm512_set1_epi32(0x7F)), 20);
  const __m512 with_implicit_one =
      _mm512_castsi512_ps(_mm512_add_epi32(magnitude, _mm512_set1_epi32(120 << 23)));
  const __mmask16 normal = _mm512_test_epi32_mask(code, _mm512_set1_epi32(0x78));
  const __m512 subnormal =
      _mm512_fmsub_ps(with_implicit_one, _mm512_set1_ps(2.0f), _mm512_set1_ps(0.015625f));
  const __m512 value = _mm512_mask_mov_ps(subnormal, normal, with_implicit_one);
  const __m512i sign = _mm512_slli_epi32(code, 24);
  return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(sign, _mm512_set1_epi32(INT32_MIN),
                                                       _mm512_castps_si512(value), kAAndBOrC));
}

// E8M0 codes to 2^(code - 127); code 0 is the subnormal 2^-127.
__m512 DecodeE8M0(const uint8_t* codes) {
  const __m512i bits = _mm512_slli_epi32(WidenBytes(codes), 23);
  return _mm512_castsi512_ps(_mm512_max_epi32(bits, _mm512_set1_epi32(0x00400000)));
}

__m512 DecodeWeightScales(ScaleKind kind, const uint8_t* scales) {
  switch (kind) {
    case ScaleKind::kE8M0:
      return DecodeE8M0(scales);
    case ScaleKind::kFloat32:
      return _mm512_loadu_ps(scales);
    default:
      return DecodeE4M3(scales);
  }
}

// One row of A over one chunk, shaped for the pair loop: per block half, the low and high
// elements' magnitudes in index bits 3..5, and their sign bits in bit 7 of 0x40.
struct PreparedRow {
  __m512i index[2][2];  // [block half][low, high nibble]
  __m512i sign[2][2];
  __m512 scale;
};

void PrepareRow(const uint8_t* codes, const uint8_t* scales, PreparedRow& row) {
  __m512i halves[2];
  LoadBlockHalves(codes, halves[0], halves[1]);
  const __m512i sign_bit = Bytes(0x80);
  const __m512i plus_64 = Bytes(0x40);
  for (int h = 0; h < 2; ++h) {
    // 16-bit shifts: bits that cross into the neighbour byte land where they are ignored.
    row.index[h][0] = _mm512_slli_epi16(halves[h], 3);
    row.index[h][1] = _mm512_srli_epi16(halves[h], 1);
    row.sign[h][0] =
        _mm512_ternarylogic_epi32(_mm512_slli_epi16(halves[h], 4), sign_bit, plus_64, kAAndBOrC);
    row.sign[h][1] = _mm512_ternarylogic_epi32(halves[h], sign_bit, plus_64, kAAndBOrC);
  }
  row.scale = DecodeE4M3(scales);
}

// The ISA's part of LutGemm (kernels/fp4_w4a4_lut_driver.h).
struct Avx512Lut : Avx512Accumulator {
  static constexpr int kTileRows = 4;
  static constexpr int kTileCols = 4;
  static constexpr int64_t kChunk = 256;  // elements per step: 16 blocks, one int32 lane per block
  static constexpr float kOutputScale = 0.25f / kSignFactor;  // the products are 4x, signs 64x
  template <int kRows, int kCols>
  static void MultiplyChunk(const LutChunk<kRows, kCols>& in, ScaleKind kind,
                            __m512 (&acc)[kRows][kCols]);
};

template <int kRows, int kCols>
void Avx512Lut::MultiplyChunk(const LutChunk<kRows, kCols>& in, ScaleKind kind,
                              __m512 (&acc)[kRows][kCols]) {
  PreparedRow rows[kRows];
  for (int i = 0; i < kRows; ++i) PrepareRow(in.a_codes[i], in.a_scales[i], rows[i]);
  const __m512i table = _mm512_load_si512(kProducts.bytes);
  const __m512i low_magnitude = Bytes(0x07);
  const __m512i sign_bit = Bytes(0x80);
  const __m512i magic_bits = _mm512_set1_epi32(kMagicBits);
  const __m512 magic = _mm512_set1_ps(kMagic);
  for (int j = 0; j < kCols; ++j) {
    // Per block half: low nibble's magnitude in bits 0..2 and sign in bit 7 (of the shifted
    // copy), high nibble's magnitude in bits 0..2 (shifted) and sign in bit 7.
    __m512i w[2], w_high[2], w_low_sign[2];
    LoadBlockHalves(in.b_codes[j], w[0], w[1]);
    for (int h = 0; h < 2; ++h) {
      w_high[h] = _mm512_srli_epi16(w[h], 4);
      w_low_sign[h] = _mm512_slli_epi16(w[h], 4);
    }
    const __m512 b_scale = DecodeWeightScales(kind, in.b_scales[j]);
    for (int i = 0; i < kRows; ++i) {
      __m512i sum = magic_bits;
      for (int h = 0; h < 2; ++h) {
        const __m512i index_low =
            _mm512_ternarylogic_epi32(w[h], rows[i].index[h][0], low_magnitude, kSelectAByC);
        const __m512i sign_low =
            _mm512_ternarylogic_epi32(w_low_sign[h], rows[i].sign[h][0], sign_bit, kBXorAAndC);
        sum = _mm512_dpbusd_epi32(sum, _mm512_permutexvar_epi8(index_low, table), sign_low);
        const __m512i index_high =
            _mm512_ternarylogic_epi32(w_high[h], rows[i].index[h][1], low_magnitude, kSelectAByC);
        const __m512i sign_high =
            _mm512_ternarylogic_epi32(w[h], rows[i].sign[h][1], sign_bit, kBXorAAndC);
        sum = _mm512_dpbusd_epi32(sum, _mm512_permutexvar_epi8(index_high, table), sign_high);
      }
      const __m512 block_sums = _mm512_sub_ps(_mm512_castsi512_ps(sum), magic);
      acc[i][j] = _mm512_fmadd_ps(block_sums, _mm512_mul_ps(b_scale, rows[i].scale), acc[i][j]);
    }
  }
}

}  // namespace

void FP4MOE_MICROKERNEL(fp4_w4a4_lut_4x4_avx512)(const GemmArgs& args, int64_t n_begin,
                                                  int64_t n_end) {
  LutGemm<Avx512Lut>(args, n_begin, n_end);
}

}  // namespace fp4moe::kernels
