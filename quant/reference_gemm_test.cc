#include "quant/reference_gemm.h"

#include "gtest/gtest.h"

namespace fp4moe {
namespace {

TEST(ReferenceGemmTest, MultipliesByTheTransposedWeights) {
  RowMatrixXf a(2, 3);
  a << 1, 2, 3, -1, 0, 1;
  RowMatrixXf b(2, 3);  // [N, K]
  b << 1, 1, 1, 0, -2, 5;
  const RowMatrixXd c = ReferenceGemm(a, b);
  EXPECT_EQ(c(0, 0), 6);
  EXPECT_EQ(c(0, 1), 11);
  EXPECT_EQ(c(1, 0), 0);
  EXPECT_EQ(c(1, 1), 5);
  const RowMatrixXd abs = AbsGemm(a, b);
  EXPECT_EQ(abs(0, 1), 19);
  EXPECT_EQ(abs(1, 1), 5);
}

}  // namespace
}  // namespace fp4moe
