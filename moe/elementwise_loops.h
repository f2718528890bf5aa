#ifndef FP4MOE_MOE_ELEMENTWISE_LOOPS_H_
#define FP4MOE_MOE_ELEMENTWISE_LOOPS_H_

// The loops behind moe/elementwise.h, compiled once per ISA (elementwise.cc for the baseline,
// elementwise_avx2.cc, elementwise_avx512.cc): the same source, so the same operations in the
// same order, and with no contraction into FMAs (-ffp-contract=off, moe/BUILD), the same bits
// on every ISA. In an anonymous namespace: each file's copy is its own (one inline definition
// shared by differently compiled files would let the linker keep any one of them).

#include <cstdint>
#include <cstring>
#include <limits>

#include "moe/elementwise.h"

namespace fp4moe::moe {
namespace {

// e^y for y <= 88.72 (larger y gives infinity), without a libm call so that the loop
// vectorises: y = n ln2 + r with |r| <= ln2 / 2 (Cody-Waite: ln2 in two parts, so r is
// nearly exact), e^r by Cephes' expf polynomial (relative error below 2e-7 on that interval,
// about 1.5 units in the last place), times 2^n put into the exponent bits. y is clamped to
// [-86, 89]: at -86, e^y (4e-38) keeps 2^(n - 1) a normal float and 1 + e^y rounds to 1 as
// for any smaller y; above 88.72 the result is infinity anyway. NaN takes -86 too, so that the
// exponent bits never come from converting NaN to an integer (the caller's NaN gate still makes
// the output NaN).
inline float Exp(float y) {
  const float clamped = y > 89.0f ? 89.0f : (y >= -86.0f ? y : -86.0f);
  const float z = clamped * 1.44269504088896341f;
  // Round to nearest by adding and removing 1.5 * 2^23 (|z| < 2^22).
  const float n = (z + 12582912.0f) - 12582912.0f;
  const float r = (clamped - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.0f;
  // n is in [-124, 128]; 2^n is built as 2^(n - 1) * 2 so that n = 128 (y above 88.38)
  // still has a finite exponent field.
  const int32_t bits = (static_cast<int32_t>(n) + 126) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float e = er * scale * 2.0f;
  return y > 88.72f ? std::numeric_limits<float>::infinity() : e;
}

void SiluMulLoop(const float* gate, const float* up, float* out, int64_t n) {
  // One independent element per iteration, no calls, clamps as selects: vectorises.
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + Exp(-g)) * up[i];
  }
}

void ClampedSwigluLoop(const float* gate, const float* up, float limit, float* out, int64_t n) {
  // Comparisons written so that NaN fails them and passes through.
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i] > limit ? limit : gate[i];
    const float u = up[i] > limit ? limit : (up[i] < -limit ? -limit : up[i]);
    out[i] = (u + 1.0f) * (g / (1.0f + Exp(-kSwigluAlpha * g)));
  }
}

void WeightedRowSumLoop(const float* const* rows, const float* weights, int64_t count,
                        int64_t n, bool accumulate, float* out) {
  // By chunks of columns whose sums stay in L1 while the rows pass (GCC does not vectorise
  // a loop over the columns with the rows' sum inside it).
  constexpr int64_t kChunk = 512;
  for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
    const int64_t m = n - c0 < kChunk ? n - c0 : kChunk;
    float* sums = out + c0;
    if (!accumulate) {
#pragma omp simd
      for (int64_t c = 0; c < m; ++c) sums[c] = 0.0f;
    }
    for (int64_t i = 0; i < count; ++i) {
      const float w = weights[i];
      const float* row = rows[i] + c0;
#pragma omp simd
      for (int64_t c = 0; c < m; ++c) sums[c] += w * row[c];
    }
  }
}

}  // namespace
}  // namespace fp4moe::moe

// Defines moe/elementwise.h's SiluMul<isa>, ClampedSwiglu<isa> and WeightedRowSum<isa> as this
// file's loops, in the file compiled for that ISA.
#define FP4MOE_DEFINE_ELEMENTWISE_FOR_ISA(isa)                                                     \
  void fp4moe::moe::SiluMul##isa(const float* gate, const float* up, float* out, int64_t n) {      \
    SiluMulLoop(gate, up, out, n);                                                                 \
  }                                                                                                \
  void fp4moe::moe::ClampedSwiglu##isa(const float* gate, const float* up, float limit,            \
                                       float* out, int64_t n) {                                    \
    ClampedSwigluLoop(gate, up, limit, out, n);                                                    \
  }                                                                                                \
  void fp4moe::moe::WeightedRowSum##isa(const float* const* rows, const float* weights,            \
                                        int64_t count, int64_t n, bool accumulate,                 \
                                        float* out) {                                              \
    WeightedRowSumLoop(rows, weights, count, n, accumulate, out);                                  \
  }

#endif  // FP4MOE_MOE_ELEMENTWISE_LOOPS_H_
