#include "moe/elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <tuple>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu_features.h"

namespace fp4moe::moe {
namespace {

TEST(SiluMulTest, MatchesDoubleSiluWithinFloatRounding) {
  std::vector<float> gate, up;
  for (float x = -100.0f; x <= 100.0f; x += 0.37f) {
    gate.push_back(x);
    up.push_back(0.5f - x / 300.0f);
  }
  std::vector<float> out(gate.size());
  SiluMul(gate.data(), up.data(), out.data(), gate.size());
  for (size_t i = 0; i < gate.size(); ++i) {
    const double g = gate[i];
    const double expected = g / (1.0 + std::exp(-g)) * up[i];
    // e^-x is within 2e-7 relative (3.4 units of 2^-24), which 1 + e^-x carries at most as
    // far; add, divide and multiply round once each (a unit each): below 7 units, 3.5 eps.
    // 8 eps leaves room for the polynomial's bound (2.9 units measured over this range).
    // Below -88.7 e^-x overflows float and the result flushes to -0, off by less than 1e-36.
    const double tolerance = gate[i] > -88.7f
                                 ? 8 * std::numeric_limits<float>::epsilon() * std::abs(expected)
                                 : 1e-36;
    EXPECT_NEAR(out[i], expected, tolerance) << "gate " << gate[i];
  }
}

TEST(SiluMulTest, ExtremeInputsStayFinite) {
  const float big = std::numeric_limits<float>::max();
  std::vector<float> gate = {-big, big / 4, -1000.0f, 0.0f};
  std::vector<float> up = {1.0f, 2.0f, 3.0f, 4.0f};
  SiluMul(gate.data(), up.data(), gate.data(), gate.size());  // in place
  EXPECT_EQ(gate[0], 0.0f);
  EXPECT_EQ(gate[1], big / 2);
  EXPECT_EQ(gate[2], 0.0f);
  EXPECT_EQ(gate[3], 0.0f);
}

TEST(SiluMulTest, NanStaysNanAndInfinitiesStayDefined) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> gate = {nan, inf, -inf, 3e38f, -3e38f};
  std::vector<float> up = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
  std::vector<float> out(gate.size());
  SiluMul(gate.data(), up.data(), out.data(), gate.size());
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(out[1], inf);
  EXPECT_TRUE(out[2] == 0.0f || std::isnan(out[2]));  // -inf / inf
  EXPECT_EQ(out[3], 3e38f);
  EXPECT_EQ(out[4], 0.0f);
}

TEST(ClampedSwigluTest, MatchesDoubleFormulaWithinFloatRounding) {
  constexpr float kLimit = 7.0f;
  std::vector<float> gate, up;
  for (float x = -60.0f; x <= 60.0f; x += 0.29f) {
    gate.push_back(x);
    up.push_back(12.0f - x / 2.0f);  // crosses both clamps of up
  }
  std::vector<float> out(gate.size());
  ClampedSwiglu(gate.data(), up.data(), kLimit, out.data(), gate.size());
  for (size_t i = 0; i < gate.size(); ++i) {
    const double g = std::min<double>(gate[i], kLimit);
    const double u = std::clamp<double>(up[i], -kLimit, kLimit);
    const double expected = (u + 1) * g / (1.0 + std::exp(-double{kSwigluAlpha} * g));
    // SiluMul's 8 eps, plus the rounding of alpha * g (carried at most |y| e^-y / (1 + e^-y)
    // < 0.3 relative) and of u + 1 (a unit; relative to (u + 1) it can grow where u + 1 is
    // small, which the absolute term covers).
    const double tolerance = 10 * std::numeric_limits<float>::epsilon() * std::abs(expected) +
                             std::numeric_limits<float>::epsilon() * std::abs(g);
    EXPECT_NEAR(out[i], expected, tolerance) << "gate " << gate[i] << " up " << up[i];
  }
}

TEST(ClampedSwigluTest, NanStaysNan) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> gate = {nan, 1.0f}, up = {1.0f, nan}, out(2);
  ClampedSwiglu(gate.data(), up.data(), 7.0f, out.data(), 2);
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_TRUE(std::isnan(out[1]));
}

// Every ISA version this CPU runs gives the baseline's bits, vector bodies and tails, specials
// (NaN, infinities, the largest floats, subnormals, signed zeros) included.
TEST(SiluIsaTest, EveryIsaGivesTheBaselinesBits) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const float big = std::numeric_limits<float>::max();
  const float tiny = std::numeric_limits<float>::denorm_min();
  std::vector<float> gate = {nan, inf, -inf, big, -big, tiny, -tiny, 0.0f, -0.0f, 88.7f, -88.7f};
  std::vector<float> up = {1.0f, 2.0f, -3.0f, 0.5f, nan, inf, -inf, big, -big, tiny, 0.0f};
  // 1003 more: not a multiple of any vector width.
  for (int i = 0; i < 1003; ++i) {
    gate.push_back(std::ldexp(static_cast<float>((i * 7919) % 2001 - 1000) / 1000.0f, i % 15 - 5));
    up.push_back(std::ldexp(static_cast<float>((i * 104729) % 2001 - 1000) / 999.0f, i % 9 - 4));
  }
  const int64_t n = static_cast<int64_t>(gate.size());
  const auto bits = [](const std::vector<float>& v) {
    std::vector<uint32_t> b(v.size());
    std::memcpy(b.data(), v.data(), v.size() * sizeof(float));
    return b;
  };
  std::vector<float> silu(n), swiglu(n);
  SiluMulBaseline(gate.data(), up.data(), silu.data(), n);
  ClampedSwigluBaseline(gate.data(), up.data(), 7.0f, swiglu.data(), n);
  const kernels::CpuFeatures& cpu = kernels::DetectedCpuFeatures();
  int checked = 0;
  for (const auto& [runs, silu_isa, swiglu_isa] :
       {std::tuple{cpu.avx2, &SiluMulAvx2, &ClampedSwigluAvx2},
        std::tuple{cpu.avx512, &SiluMulAvx512, &ClampedSwigluAvx512}}) {
    if (!runs) continue;
    ++checked;
    std::vector<float> out(n);
    silu_isa(gate.data(), up.data(), out.data(), n);
    EXPECT_EQ(bits(out), bits(silu));
    swiglu_isa(gate.data(), up.data(), 7.0f, out.data(), n);
    EXPECT_EQ(bits(out), bits(swiglu));
    // In place, as the layer calls it.
    std::vector<float> in_place = gate;
    silu_isa(in_place.data(), up.data(), in_place.data(), n);
    EXPECT_EQ(bits(in_place), bits(silu));
  }
  if (checked == 0) GTEST_SKIP() << "no AVX2 here: only the baseline runs";
}

TEST(WeightedRowSumTest, SumsTheWeightedRowsInOrderFromZero) {
  const std::vector<float> a = {1, 2, 3, -0.0f}, b = {10, 20, 30, -0.0f};
  const float* rows[] = {a.data(), b.data()};
  const float weights[] = {2.0f, 0.5f};
  std::vector<float> out(4, 99.0f);
  WeightedRowSum(rows, weights, 2, 4, /*accumulate=*/false, out.data());
  EXPECT_EQ(out, (std::vector<float>{7, 14, 21, 0}));
  EXPECT_FALSE(std::signbit(out[3]));  // from +0, as the layer's sums always started
  // In order: 1e8 + 1 - 1e8 is 0 in float, where any other order gives 1.
  const std::vector<float> big = {1e8f}, one = {1.0f};
  const float* ordered[] = {big.data(), one.data(), big.data()};
  const float signs[] = {1.0f, 1.0f, -1.0f};
  WeightedRowSum(ordered, signs, 3, 1, /*accumulate=*/false, out.data());
  EXPECT_EQ(out[0], 0.0f);
  // The same sum in two batches.
  WeightedRowSum(ordered, signs, 2, 1, /*accumulate=*/false, out.data());
  WeightedRowSum(ordered + 2, signs + 2, 1, 1, /*accumulate=*/true, out.data());
  EXPECT_EQ(out[0], 0.0f);
  WeightedRowSum(rows, weights, 0, 4, /*accumulate=*/false, out.data());  // no rows: zeros
  EXPECT_EQ(out, (std::vector<float>{0, 0, 0, 0}));
}

TEST(WeightedRowSumIsaTest, EveryIsaGivesTheBaselinesBits) {
  // Nine rows of 1003 columns (not a multiple of any vector width), of mixed magnitudes so
  // that the order of the sums shows in the bits.
  constexpr int kRows = 9;
  constexpr int64_t kColumns = 1003;
  std::vector<std::vector<float>> values(kRows);
  std::vector<const float*> rows;
  std::vector<float> weights;
  for (int i = 0; i < kRows; ++i) {
    for (int64_t c = 0; c < kColumns; ++c) {
      values[i].push_back(
          std::ldexp(static_cast<float>((c * 7919 + i * 104729) % 2001 - 1000) / 999.0f,
                     static_cast<int>((c + i) % 13) - 6));
    }
    rows.push_back(values[i].data());
    weights.push_back(0.1f * static_cast<float>(i + 1));
  }
  const auto bits = [](const std::vector<float>& v) {
    std::vector<uint32_t> b(v.size());
    std::memcpy(b.data(), v.data(), v.size() * sizeof(float));
    return b;
  };
  std::vector<float> baseline(kColumns);
  WeightedRowSumBaseline(rows.data(), weights.data(), kRows, kColumns, false, baseline.data());
  const kernels::CpuFeatures& cpu = kernels::DetectedCpuFeatures();
  int checked = 0;
  for (const auto& [runs, sum_isa] : {std::pair{cpu.avx2, &WeightedRowSumAvx2},
                                      std::pair{cpu.avx512, &WeightedRowSumAvx512}}) {
    if (!runs) continue;
    ++checked;
    std::vector<float> out(kColumns);
    sum_isa(rows.data(), weights.data(), kRows, kColumns, false, out.data());
    EXPECT_EQ(bits(out), bits(baseline));
    // In two batches.
    sum_isa(rows.data(), weights.data(), 4, kColumns, false, out.data());
    sum_isa(rows.data() + 4, weights.data() + 4, kRows - 4, kColumns, true, out.data());
    EXPECT_EQ(bits(out), bits(baseline));
  }
  if (checked == 0) GTEST_SKIP() << "no AVX2 here: only the baseline runs";
}

TEST(AddRowBiasTest, AddsTheBiasToEveryRow) {
  std::vector<float> rows = {1, 2, 3, 4, 5, 6};
  const std::vector<float> bias = {10, 20, 30};
  AddRowBias(bias.data(), 2, 3, 3, rows.data());
  EXPECT_EQ(rows, (std::vector<float>{11, 22, 33, 14, 25, 36}));
}

TEST(AddRowBiasTest, AddsToAColumnSliceOfEveryRow) {
  std::vector<float> rows = {1, 2, 3, 4, 5, 6};
  const std::vector<float> bias = {10, 20};
  AddRowBias(bias.data(), 2, 2, 3, rows.data() + 1);
  EXPECT_EQ(rows, (std::vector<float>{1, 12, 23, 4, 15, 26}));
}

}  // namespace
}  // namespace fp4moe::moe
