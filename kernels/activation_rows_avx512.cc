// The AVX-512 versions of kernels/activation_rows.h, compiled natively and, as a microkernel,
// with SIMDe for tests (kernels/microkernel.bzl); helpers in an anonymous namespace.
#include <cstdint>
#include <cstring>

#include "kernels/activation_rows.h"
#include "kernels/avx512_helpers.h"
#include "kernels/simd.h"
#include "quant/bf16.h"
#include "quant/validate.h"

namespace fp4moe::kernels {
namespace {

__m512 Abs(__m512 v) {
  return _mm512_castsi512_ps(
      _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7FFFFFFF)));
}

// The largest lane (in intrinsics that SIMDe 0.7.4 has too).
float MaxLane(__m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m256 half = _mm256_max_ps(
      _mm512_castps512_ps256(v),
      _mm512_castps512_ps256(_mm512_castsi512_ps(_mm512_shuffle_i32x4(bits, bits, 0x4E))));
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)));
}

// Each lane (|v| < 2^22) rounded to an integer as the MXCSR's mode rounds (to nearest even by
// default, as nearbyint): adding 1.5 x 2^23 leaves the integer in the low mantissa bits.
__m512i RoundedToInt(__m512 v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 x 2^23, bits 0x4B400000
  return _mm512_sub_epi32(_mm512_castps_si512(_mm512_add_ps(v, _mm512_set1_ps(kMagic))),
                          _mm512_set1_epi32(0x4B400000));
}

// FloatToBf16's rounding of each lane, in the low half of its dword. NaN lanes stay (quiet)
// NaNs, as FloatToBf16 keeps them: rounding their bits could carry into the sign and give a
// zero, which would hide them from the check on the rounded rows.
__m512i RoundedBf16Bits(__m512 v) {
  const __m512i quiet_nan = _mm512_or_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x00400000));
  const __m512i bits =
      _mm512_mask_mov_epi32(RoundToBf16Bits(v), _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), quiet_nan);
  return _mm512_srli_epi32(bits, 16);
}

}  // namespace

void FP4MOE_MICROKERNEL(QuantizeInt8RowsAvx512)(const FloatRows& x, int64_t group, int8_t* q,
                                                 float* scales) {
  const int64_t groups = x.k / group;
  const __m512i high = _mm512_set1_epi32(127), low = _mm512_set1_epi32(-127);
  // Byte i: the low byte of dword i.
  const __m512i low_bytes = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x3C383430,
                                             0x2C282420, 0x1C181410, 0x0C080400);
  for (int64_t r = 0; r < x.rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const float* in = x.Row(r) + g * group;
      int8_t* out = q + r * x.k + g * group;
      __m512 amax = _mm512_setzero_ps();
      for (int64_t i = 0; i < group; i += 16) {
        amax = _mm512_max_ps(amax, Abs(_mm512_loadu_ps(in + i)));
      }
      const float scale = MaxLane(amax) / 127.0f;
      scales[r * groups + g] = scale;
      if (scale == 0.0f) {
        std::memset(out, 0, group);
        continue;
      }
      const __m512 divisor = _mm512_set1_ps(scale);
      for (int64_t i = 0; i < group; i += 16) {
        const __m512i v = RoundedToInt(_mm512_div_ps(_mm512_loadu_ps(in + i), divisor));
        const __m512i bytes =
            _mm512_permutexvar_epi8(low_bytes, _mm512_max_epi32(_mm512_min_epi32(v, high), low));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm512_castsi512_si128(bytes));
      }
    }
  }
}

bool FP4MOE_MICROKERNEL(RoundRowsToBf16Avx512)(const FloatRows& x, uint16_t* out) {
  // packus interleaves the two vectors' quarters: put them back in order.
  const __m512i order = _mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7);
  // The largest magnitude (unsigned 16-bit max of the words' low 15 bits) reaches the exponent
  // bits only where some word is a NaN or an infinity: one max a vector, one look at the end.
  const __m512i magnitude = _mm512_set1_epi16(0x7FFF);
  __m512i largest = _mm512_setzero_si512();
  bool finite = true;
  for (int64_t r = 0; r < x.rows; ++r) {
    const float* in = x.Row(r);
    uint16_t* row = out + r * x.k;
    int64_t c = 0;
    for (; c + 32 <= x.k; c += 32) {
      const __m512i words =
          _mm512_packus_epi32(RoundedBf16Bits(_mm512_loadu_ps(in + c)),
                              RoundedBf16Bits(_mm512_loadu_ps(in + c + 16)));
      largest = _mm512_max_epu16(largest, _mm512_and_si512(words, magnitude));
      _mm512_storeu_si512(row + c, _mm512_permutexvar_epi64(order, words));
    }
    for (; c < x.k; ++c) {
      row[c] = FloatToBf16(in[c]);
      finite = finite && IsFiniteBf16(row[c]);
    }
  }
  alignas(64) uint16_t words[32];
  _mm512_store_si512(words, largest);
  return finite && AllFiniteBf16(words, 32);
}

}  // namespace fp4moe::kernels
