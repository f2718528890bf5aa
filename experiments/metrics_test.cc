#include "experiments/metrics.h"

#include "gtest/gtest.h"

namespace fp4moe {
namespace {

TEST(MetricsTest, ErrorsOfAKnownPerturbation) {
  RowMatrixXd want(1, 4);
  want << 3, 0, 4, 0;  // norm 5
  RowMatrixXd got = want;
  got(0, 1) = 1;  // error vector (0, 1, 0, 0)
  const ErrorMetrics m = CompareMatrices(got, want);
  EXPECT_DOUBLE_EQ(m.relative_frobenius, 0.2);
  EXPECT_DOUBLE_EQ(m.max_abs, 1.0);
  EXPECT_DOUBLE_EQ(m.cosine, 25.0 / (std::sqrt(26.0) * 5.0));
  EXPECT_DOUBLE_EQ(CompareMatrices(want, want).cosine, 1.0);
}

}  // namespace
}  // namespace fp4moe
