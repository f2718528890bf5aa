// The AVX2 versions of kernels/activation_rows.h, alone in a file built with AVX2 flags: no
// inline code shared with other files (see kernels/microkernel.bzl).
#include <cstdint>
#include <cstring>

#include "kernels/activation_rows.h"
#include "kernels/avx2_helpers.h"
#include "kernels/simd.h"
#include "quant/bf16.h"
#include "quant/validate.h"

namespace fp4moe::kernels {
namespace {

__m256 Abs(__m256 v) {
  return _mm256_castsi256_ps(
      _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(0x7FFFFFFF)));
}

float MaxLane(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)));
}

// x / divisor rounded to nearest even (the MXCSR's mode, as nearbyint), clamped to +-127.
__m256i Quantized(const float* x, __m256 divisor) {
  const __m256i v = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(x), divisor));
  return _mm256_max_epi32(_mm256_min_epi32(v, _mm256_set1_epi32(127)), _mm256_set1_epi32(-127));
}

// FloatToBf16's rounding of each lane, in the low half of its dword. NaN lanes stay (quiet)
// NaNs, as FloatToBf16 keeps them: rounding their bits could carry into the sign and give a
// zero, which would hide them from the check on the rounded rows.
__m256i RoundedBf16Bits(__m256 v) {
  const __m256 quiet_nan = _mm256_castsi256_ps(
      _mm256_or_si256(_mm256_castps_si256(v), _mm256_set1_epi32(0x00400000)));
  const __m256 bits =
      _mm256_blendv_ps(RoundToBf16Floats(v), quiet_nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  return _mm256_srli_epi32(_mm256_castps_si256(bits), 16);
}

}  // namespace

void QuantizeInt8RowsAvx2(const FloatRows& x, int64_t group, int8_t* q, float* scales) {
  const int64_t groups = x.k / group;
  // The packs leave dword lanes a0-3 b0-3 a0-3 b0-3 | a4-7 b4-7 ...: a's then b's.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t r = 0; r < x.rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const float* in = x.Row(r) + g * group;
      int8_t* out = q + r * x.k + g * group;
      __m256 amax = _mm256_setzero_ps();
      for (int64_t i = 0; i < group; i += 8) {
        amax = _mm256_max_ps(amax, Abs(_mm256_loadu_ps(in + i)));
      }
      const float scale = MaxLane(amax) / 127.0f;
      scales[r * groups + g] = scale;
      if (scale == 0.0f) {
        std::memset(out, 0, group);
        continue;
      }
      const __m256 divisor = _mm256_set1_ps(scale);
      for (int64_t i = 0; i < group; i += 16) {
        const __m256i words = _mm256_packs_epi32(Quantized(in + i, divisor),
                                                 Quantized(in + i + 8, divisor));
        const __m256i bytes =
            _mm256_permutevar8x32_epi32(_mm256_packs_epi16(words, words), order);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_castsi256_si128(bytes));
      }
    }
  }
}

bool RoundRowsToBf16Avx2(const FloatRows& x, uint16_t* out) {
  // The largest 15-bit magnitude reaches the exponent bits only where some word is a NaN or an
  // infinity (as on AVX-512).
  const __m256i magnitude = _mm256_set1_epi16(0x7FFF);
  __m256i largest = _mm256_setzero_si256();
  bool finite = true;
  for (int64_t r = 0; r < x.rows; ++r) {
    const float* in = x.Row(r);
    uint16_t* row = out + r * x.k;
    int64_t c = 0;
    for (; c + 16 <= x.k; c += 16) {
      // packus interleaves the two vectors' halves: put them back in order.
      const __m256i words = _mm256_packus_epi32(RoundedBf16Bits(_mm256_loadu_ps(in + c)),
                                                RoundedBf16Bits(_mm256_loadu_ps(in + c + 8)));
      largest = _mm256_max_epu16(largest, _mm256_and_si256(words, magnitude));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + c),
                          _mm256_permute4x64_epi64(words, 0xD8));
    }
    for (; c < x.k; ++c) {
      row[c] = FloatToBf16(in[c]);
      finite = finite && IsFiniteBf16(row[c]);
    }
  }
  alignas(32) uint16_t words[16];
  _mm256_store_si256(reinterpret_cast<__m256i*>(words), largest);
  return finite && AllFiniteBf16(words, 16);
}

}  // namespace fp4moe::kernels
