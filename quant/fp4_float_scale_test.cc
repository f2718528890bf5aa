#include "quant/fp4_float_scale.h"

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "quant/e2m1.h"
#include "quant/random_matrix.h"
#include "quant/test_matchers.h"

namespace fp4moe {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(Fp4FloatScaleTest, ScaleIsBlockAmaxOverSix) {
  RowMatrixXf w = RowMatrixXf::Zero(1, 32);
  w(0, 0) = -3.0f;
  w(0, 1) = 1.0f;  // 1 / 0.5 = 2 -> code 4
  absl::StatusOr<Fp4FloatScaleTensor> t = QuantizeFp4FloatScale("w", w);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->scales, ElementsAre(0.5f, 1.0f));  // the zero block gets 1
  EXPECT_EQ(t->packed[0], 0x4F);
  const RowMatrixXf d = Dequantize(*t);
  EXPECT_EQ(d(0, 0), -3.0f);
  EXPECT_EQ(d(0, 1), 1.0f);
}

TEST(Fp4FloatScaleTest, EveryElementWithinHalfAStepOfItsBlockGrid) {
  const RowMatrixXf w = RandomMatrix(23, 64, 5, Distribution::kHeavyTailed);
  absl::StatusOr<Fp4FloatScaleTensor> t = QuantizeFp4FloatScale("w", w);
  ASSERT_TRUE(t.ok()) << t.status();
  const RowMatrixXf d = Dequantize(*t);
  for (int64_t r = 0; r < w.rows(); ++r) {
    for (int64_t c = 0; c < w.cols(); ++c) {
      const double scale = t->scales[(r * w.cols() + c) / 16];
      const double slack = 4 * std::numeric_limits<float>::epsilon() * (std::fabs(w(r, c)) + scale);
      ASSERT_LE(std::fabs(d(r, c) - w(r, c)),
                DistanceToGrid(w(r, c), kE2M1Magnitudes, scale) + slack);
    }
  }
}

TEST(Fp4FloatScaleTest, RejectsBadInput) {
  EXPECT_THAT(QuantizeFp4FloatScale("w", RowMatrixXf::Ones(1, 8)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("multiple")));
  absl::StatusOr<Fp4FloatScaleTensor> t = QuantizeFp4FloatScale("w", RowMatrixXf::Ones(1, 16));
  ASSERT_TRUE(t.ok());
  t->scales[0] = -1.0f;
  EXPECT_THAT(CheckConsistent("w", *t),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("block scale 0")));
}

}  // namespace
}  // namespace fp4moe
