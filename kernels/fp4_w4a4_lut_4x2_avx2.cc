// E2M1 weights x E2M1 activations, AVX2, tiles of 4 rows of A x 2 columns of B. AVX2 has no
// 64-entry byte lookup, so the product table is taken in two levels: vpshufb reads each code's
// 2 x value from a 16-entry table (sign and magnitude), and vpmaddubsw multiplies |activation|
// by the weight carrying the activation's sign (vpsignb), which gives exactly the scalar
// reference's products x4. Per 128 elements of a row pair one int32 lane holds one 16-element
// block, scaled by both block scales into a float lane; the 8 lanes are summed once per output.
#include <cstdint>

#include "kernels/avx2_helpers.h"
#include "kernels/fp4_w4a4_lut_driver.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {
namespace {

__m256i TableOf(int8_t e0, int8_t e1, int8_t e2, int8_t e3, int8_t e4, int8_t e5, int8_t e6,
                int8_t e7, int8_t e8, int8_t e9, int8_t e10, int8_t e11, int8_t e12,
                int8_t e13, int8_t e14, int8_t e15) {
  return _mm256_setr_epi8(e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12, e13, e14, e15,
                          e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12, e13, e14, e15);
}

// 2 x the E2M1 value of a 4-bit code, and its magnitude.
__m256i DoubledValueTable() {
  return TableOf(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
}
__m256i DoubledMagnitudeTable() {
  return TableOf(0, 1, 2, 3, 4, 6, 8, 12, 0, 1, 2, 3, 4, 6, 8, 12);
}

// 8 block scales in the lane order of LoadBlockHalves.
__m256 WeightScales(ScaleKind kind, const uint8_t* scales) {
  __m256 natural;
  switch (kind) {
    case ScaleKind::kE8M0:
      natural = DecodeE8M0(WidenBytes(scales));
      break;
    case ScaleKind::kFloat32:
      natural = _mm256_loadu_ps(reinterpret_cast<const float*>(scales));
      break;
    default:
      natural = DecodeE4M3(WidenBytes(scales));
  }
  return _mm256_permutevar8x32_ps(natural, LaneBlocks());
}

__m256 ActivationScales(const uint8_t* scales) {
  return _mm256_permutevar8x32_ps(DecodeE4M3(WidenBytes(scales)), LaneBlocks());
}

// Per block half and nibble: 2 x the value of each code (signed) or its magnitude (unsigned).
struct DecodedCodes {
  __m256i value[2][2];
};

void Decode(const uint8_t* codes, const __m256i table, DecodedCodes& out) {
  __m256i halves[2];
  LoadBlockHalves(codes, halves[0], halves[1]);
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  for (int h = 0; h < 2; ++h) {
    out.value[h][0] = _mm256_shuffle_epi8(table, _mm256_and_si256(halves[h], nibble));
    out.value[h][1] =
        _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(halves[h], 4), nibble));
  }
}

struct PreparedRow {
  DecodedCodes value;
  DecodedCodes magnitude;
  __m256 scale;
};

// The ISA's part of LutGemm (kernels/fp4_w4a4_lut_driver.h).
struct Avx2Lut : Avx2Accumulator {
  static constexpr int kTileRows = 4;
  static constexpr int kTileCols = 2;
  static constexpr int64_t kChunk = 128;  // elements per step: 8 blocks, one int32 lane per block
  static constexpr float kOutputScale = 0.25f;  // the products are 4x
  template <int kRows, int kCols>
  static void MultiplyChunk(const LutChunk<kRows, kCols>& in, ScaleKind kind,
                            __m256 (&acc)[kRows][kCols]);
};

template <int kRows, int kCols>
void Avx2Lut::MultiplyChunk(const LutChunk<kRows, kCols>& in, ScaleKind kind,
                            __m256 (&acc)[kRows][kCols]) {
  const __m256i values = DoubledValueTable();
  const __m256i magnitudes = DoubledMagnitudeTable();
  PreparedRow rows[kRows];
  for (int i = 0; i < kRows; ++i) {
    Decode(in.a_codes[i], values, rows[i].value);
    Decode(in.a_codes[i], magnitudes, rows[i].magnitude);
    rows[i].scale = ActivationScales(in.a_scales[i]);
  }
  const __m256i ones = _mm256_set1_epi16(1);
  for (int j = 0; j < kCols; ++j) {
    DecodedCodes w;
    Decode(in.b_codes[j], values, w);
    const __m256 b_scale = WeightScales(kind, in.b_scales[j]);
    for (int i = 0; i < kRows; ++i) {
      // int16 lanes: at most 4 x 2 x 144, far from saturation.
      __m256i pair_sums = _mm256_setzero_si256();
      for (int h = 0; h < 2; ++h) {
        for (int nib = 0; nib < 2; ++nib) {
          const __m256i signed_w = _mm256_sign_epi8(w.value[h][nib], rows[i].value.value[h][nib]);
          pair_sums = _mm256_add_epi16(
              pair_sums, _mm256_maddubs_epi16(rows[i].magnitude.value[h][nib], signed_w));
        }
      }
      const __m256 block_sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pair_sums, ones));
      acc[i][j] = _mm256_fmadd_ps(block_sums, _mm256_mul_ps(b_scale, rows[i].scale), acc[i][j]);
    }
  }
}

}  // namespace

void fp4_w4a4_lut_4x2_avx2(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  LutGemm<Avx2Lut>(args, n_begin, n_end);
}

}  // namespace fp4moe::kernels
