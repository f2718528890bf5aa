#include "kernels/probe_chains.h"

#include <cmath>
#include <cstdint>

#include "gtest/gtest.h"
#include "kernels/cpu_features.h"

namespace fp4moe::kernels {
namespace {

// Each loop gives what its chains must reach by the formulas of probe_chains.h: it does all its
// work.
constexpr int64_t kIterations[] = {0, 1, 7, 1000};

TEST(ProbeChainsTest, FmaChainsAvx2DoTheirWork) {
  if (!DetectedCpuFeatures().avx2) GTEST_SKIP() << "no AVX2 here";
  for (const int64_t iterations : kIterations) {
    SCOPED_TRACE(iterations);
    // Each FMA rounded once, as fmaf rounds; the chains summed lane by lane, then the lanes.
    float lane = 0;
    for (int c = 0; c < kFmaChains; ++c) {
      float x = 1.0f + 0.125f * static_cast<float>(c);
      for (int64_t i = 0; i < iterations; ++i) x = std::fmaf(x, 0.999f, 0.001f);
      lane = c == 0 ? x : lane + x;
    }
    float total = 0;
    for (int l = 0; l < kFmaLanes; ++l) total += lane;
    EXPECT_EQ(FmaChainsAvx2(iterations), total);
  }
}

TEST(ProbeChainsTest, Int8DotChainsAvx2DoTheirWork) {
  if (!DetectedCpuFeatures().avx2) GTEST_SKIP() << "no AVX2 here";
  for (const int64_t iterations : kIterations) {
    SCOPED_TRACE(iterations);
    uint32_t total = 0;
    for (int c = 0; c < kInt8DotChainsAvx2; ++c) {
      uint32_t v = c + 1;
      for (int64_t i = 0; i < iterations; ++i) {
        v += 3 * ((v & 0xFF) + ((v >> 8) & 0xFF) + ((v >> 16) & 0xFF) + (v >> 24));
      }
      total += 8 * v;
    }
    EXPECT_EQ(Int8DotChainsAvx2(iterations), total);
  }
}

TEST(ProbeChainsTest, DotChainsAvx512DoTheirWork) {
  if (!DetectedCpuFeatures().avx512) GTEST_SKIP() << "no AVX-512 here";
  for (const int64_t iterations : kIterations) {
    SCOPED_TRACE(iterations);
    uint32_t int8_total = 0;
    double bf16_total = 0;
    for (int c = 0; c < kDotChainsAvx512; ++c) {
      int8_total += 16 * (c + 8 * static_cast<uint32_t>(iterations));
      bf16_total += 16 * (c + std::ldexp(static_cast<double>(iterations), -11));
    }
    EXPECT_EQ(Int8DotChainsAvx512(iterations), int8_total);
    EXPECT_EQ(Bf16DotChainsAvx512(iterations), bf16_total);
  }
}

}  // namespace
}  // namespace fp4moe::kernels
