#include "kernels/vector_probe.h"

#include <omp.h>

#include <cmath>
#include <cstdint>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu_features.h"
#include "kernels/fma_chains.h"

namespace fp4moe::kernels {
namespace {

using ::testing::HasSubstr;

// The probe's loop gives the sum its chains must reach, each FMA rounded once as fmaf rounds:
// it does all its work.
TEST(VectorProbeTest, FmaChainsDoTheirWork) {
  if (!DetectedCpuFeatures().avx2) GTEST_SKIP() << "no AVX2 here";
  for (const int64_t iterations : {0, 1, 7, 1000}) {
    SCOPED_TRACE(iterations);
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

TEST(VectorProbeTest, MeasuresEveryThread) {
  if (!DetectedCpuFeatures().avx2) GTEST_SKIP() << "no AVX2 here";
  const VectorScaling scaling = MeasureVectorScaling();
  EXPECT_EQ(scaling.threads, omp_get_max_threads());
  EXPECT_GT(scaling.one_thread, 0);
  EXPECT_GT(scaling.slowest_thread, 0);
  EXPECT_GE(scaling.all_threads, scaling.slowest_thread * scaling.threads);
  EXPECT_THAT(VectorScalingLine(scaling), HasSubstr("threads' worth"));
}

}  // namespace
}  // namespace fp4moe::kernels
