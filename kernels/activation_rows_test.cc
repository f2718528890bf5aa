#include "kernels/activation_rows.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu_features.h"
#include "quant/bf16.h"
#include "quant/int8_activation.h"
#include "quant/random_matrix.h"

namespace fp4moe::kernels {
namespace {

using QuantizeFn = void (*)(const FloatRows&, int64_t, int8_t*, float*);
using RoundFn = bool (*)(const FloatRows&, uint16_t*);

struct Version {
  std::string name;
  QuantizeFn quantize;
  RoundFn round;
};

// Every version this machine runs: the dispatched one, the scalar one, each ISA's it has, and
// the SIMDe copy of the AVX-512 one (built for AVX2).
std::vector<Version> Versions() {
  const CpuFeatures& cpu = DetectedCpuFeatures();
  std::vector<Version> versions = {{"dispatched", QuantizeInt8Rows, RoundRowsToBf16},
                                   {"scalar", QuantizeInt8RowsScalar, RoundRowsToBf16Scalar}};
  if (cpu.avx2) {
    versions.push_back({"avx2", QuantizeInt8RowsAvx2, RoundRowsToBf16Avx2});
    versions.push_back(
        {"avx512_emulated", QuantizeInt8RowsAvx512_emulated, RoundRowsToBf16Avx512_emulated});
  }
  if (cpu.avx512) {
    versions.push_back({"avx512", QuantizeInt8RowsAvx512, RoundRowsToBf16Avx512});
  }
  return versions;
}

float FromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Rows of `k` floats `stride` apart (the padding between them NaN, which no version may read):
// random rows with outliers, then rows of the cases the rounding rules decide.
std::vector<float> TestRows(int64_t rows, int64_t k, int64_t stride, uint64_t seed) {
  std::vector<float> x(rows * stride, std::numeric_limits<float>::quiet_NaN());
  const RowMatrixXf random = RandomMatrix(rows, k, seed, Distribution::kOutliers);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < k; ++c) x[r * stride + c] = random(r, c);
  }
  // Row 0: group amax 127, so scale 1 and x / scale = x: ties that round to even, both signs.
  const float ties[] = {127.0f, 2.5f, -3.5f, 0.5f, -0.5f, 1.5f, -126.5f, 0.0f, -0.0f};
  for (int64_t c = 0; c < k; ++c) x[c] = ties[c % 9] * (c % 2 == 1 ? -1.0f : 1.0f);
  x[0] = 127.0f;
  if (rows > 1) {
    // Row 1: an all-zero first group, then subnormal, tiny and huge values, and BF16 ties
    // (low half 0x8000 with either last kept bit), then values that round up to infinity.
    float* row = x.data() + stride;
    for (int64_t c = 0; c < k; ++c) {
      const uint32_t patterns[] = {0x00000001, 0x00400000, 0x007FFFFF, 0x3F808000,
                                   0x3F818000, 0xBF808000, 0x7F7FFFFF, 0xFF7F8000,
                                   0x00808000, 0x7F000000};
      row[c] = c < 16 ? 0.0f : FromBits(patterns[c % 10]);
    }
  }
  if (rows > 2) {
    // Row 2: groups of subnormals only, whose scale loses bits (the clamp decides).
    float* row = x.data() + 2 * stride;
    for (int64_t c = 0; c < k; ++c) row[c] = FromBits(0x00000100 + 37 * c) * (c % 3 ? 1 : -1);
  }
  return x;
}

TEST(ActivationRowsTest, QuantizeInt8RowsGivesQuantsRuleBitForBit) {
  for (const int64_t group : {16, 32, 64, 128, 48}) {
    for (const int64_t k : {group, 4 * group}) {
      const int64_t rows = 5, stride = k + 7;
      const std::vector<float> x = TestRows(rows, k, stride, group + k);
      std::vector<int8_t> want_q(rows * k);
      std::vector<float> want_scales(rows * (k / group));
      for (int64_t r = 0; r < rows; ++r) {
        QuantizeInt8Row(x.data() + r * stride, k, group, want_q.data() + r * k,
                        want_scales.data() + r * (k / group));
      }
      for (const Version& v : Versions()) {
        // The vector versions take groups of a multiple of 16 only.
        if (group % 16 != 0 && v.name != "dispatched" && v.name != "scalar") continue;
        SCOPED_TRACE(v.name + " group " + std::to_string(group) + " k " + std::to_string(k));
        std::vector<int8_t> q(rows * k, 99);
        std::vector<float> scales(rows * (k / group), -1.0f);
        v.quantize({x.data(), rows, k, stride}, group, q.data(), scales.data());
        EXPECT_EQ(q, want_q);
        for (size_t i = 0; i < scales.size(); ++i) {
          ASSERT_EQ(std::memcmp(&scales[i], &want_scales[i], sizeof(float)), 0) << "scale " << i;
        }
      }
    }
  }
}

TEST(ActivationRowsTest, QuantizedValuesStayWithinPlusMinus127) {
  // Subnormals up to 1323 x 2^-149: amax / 127 rounds to 10 x 2^-149, so x / scale reaches
  // 132, which the clamp brings back to 127 (and -127 for the negative ones).
  const int64_t k = 16;
  std::vector<float> x(k);
  for (int64_t c = 0; c < k; ++c) x[c] = FromBits(0x300 + 37 * c) * (c % 2 ? 1 : -1);
  for (const Version& v : Versions()) {
    SCOPED_TRACE(v.name);
    std::vector<int8_t> q(k);
    float scale;
    v.quantize({x.data(), 1, k, k}, k, q.data(), &scale);
    EXPECT_EQ(scale, FromBits(10));
    EXPECT_EQ(q[k - 1], 127);
    EXPECT_EQ(q[k - 2], -127);
    for (int8_t value : q) {
      EXPECT_GE(value, -127);
      EXPECT_LE(value, 127);
    }
  }
}

// Each value as FloatToBf16 rounds it, and the flag says whether every rounded value of the rows
// is finite: per row, rows whose only non-finite values lie in the vector body or in the scalar
// tail included.
TEST(ActivationRowsTest, RoundRowsToBf16GivesFloatToBf16BitForBit) {
  for (const int64_t k : {1, 15, 16, 31, 32, 33, 100, 2048}) {
    const int64_t rows = 4, stride = k + 3;
    std::vector<float> x = TestRows(rows, k, stride, k);
    // Row 3: infinities and NaNs, whose payloads a plain rounding would carry into the sign or
    // to zero (all ones, the largest quiet and signaling ones, both signs): they stay NaNs.
    const uint32_t non_finite[] = {0x7F800000, 0xFF800000, 0xFFFFFFFF, 0x7FFFFFFF,
                                   0x7FFF8000, 0x7F800001, 0xFFC00000, 0x7FBFFFFF};
    for (int64_t c = 0; c < k; c += 3) x[3 * stride + c] = FromBits(non_finite[c / 3 % 8]);
    std::vector<uint16_t> want(rows * k);
    bool want_finite[rows];
    for (int64_t r = 0; r < rows; ++r) {
      want_finite[r] = true;
      for (int64_t c = 0; c < k; ++c) {
        const Bf16 word = FloatToBf16(x[r * stride + c]);
        want[r * k + c] = word;
        want_finite[r] = want_finite[r] && (word & 0x7F80) != 0x7F80;
      }
    }
    // Row 1 rounds FLT_MAX to infinity from column 16 on.
    ASSERT_EQ(want_finite[1], k <= 16);
    ASSERT_TRUE(want_finite[0] && !want_finite[3]);
    for (const Version& v : Versions()) {
      SCOPED_TRACE(v.name + " k " + std::to_string(k));
      std::vector<uint16_t> out(rows * k, 0xDEAD);
      EXPECT_FALSE(v.round({x.data(), rows, k, stride}, out.data()));
      EXPECT_EQ(out, want);
      for (int64_t r = 0; r < rows; ++r) {
        EXPECT_EQ(v.round({x.data() + r * stride, 1, k, stride}, out.data()), want_finite[r])
            << "row " << r;
      }
    }
  }
}

// Rows given by index (a gather, repeats and any order) convert as the same rows copied
// together do, on every version.
TEST(ActivationRowsTest, GatheredRowsConvertAsTheRowsCopiedTogether) {
  const int64_t k = 64, stride = k + 5, source_rows = 5;
  const std::vector<float> x = TestRows(source_rows, k, stride, 7);
  const std::vector<int64_t> indices = {3, 0, 4, 4, 1, 2};
  const int64_t rows = static_cast<int64_t>(indices.size());
  std::vector<float> copied(rows * k);
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(&copied[r * k], &x[indices[r] * stride], k * sizeof(float));
  }
  const FloatRows together{copied.data(), rows, k, k};
  const FloatRows gathered{x.data(), rows, k, stride, indices.data()};
  for (const Version& v : Versions()) {
    SCOPED_TRACE(v.name);
    std::vector<uint16_t> want_bf16(rows * k), bf16(rows * k, 0xDEAD);
    v.round(together, want_bf16.data());
    v.round(gathered, bf16.data());
    EXPECT_EQ(bf16, want_bf16);
    std::vector<int8_t> want_q(rows * k), q(rows * k, 99);
    std::vector<float> want_scales(rows * k / 16), scales(rows * k / 16, -1.0f);
    v.quantize(together, 16, want_q.data(), want_scales.data());
    v.quantize(gathered, 16, q.data(), scales.data());
    EXPECT_EQ(q, want_q);
    EXPECT_EQ(scales, want_scales);
  }
}

}  // namespace
}  // namespace fp4moe::kernels
