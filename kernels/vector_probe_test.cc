#include "kernels/vector_probe.h"

#include <omp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu_features.h"

namespace fp4moe::kernels {
namespace {

using ::testing::HasSubstr;

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
