#include "quant/mxfp4.h"

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "quant/blockwise.h"
#include "quant/e2m1.h"
#include "quant/e8m0.h"
#include "quant/random_matrix.h"
#include "quant/test_matchers.h"

namespace fp4moe {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(Mxfp4Test, SharedExponentIsFloorLog2OfAmaxMinusTwo) {
  RowMatrixXf w = RowMatrixXf::Zero(1, 96);
  w(0, 0) = 6.0f;    // floor(log2 6) = 2 -> X = 0 -> code 127; 6 / 1 = 6
  w(0, 32) = 7.5f;   // X = 0 as well: 7.5 saturates to 6 (the OCP rule clips above 6)
  w(0, 33) = -1.0f;  // -1 -> code 0xA
  // Block 2 stays zero: code 0.
  absl::StatusOr<Mxfp4Tensor> t = QuantizeMxfp4("w", w);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->scales, ElementsAre(127, 127, 0));
  EXPECT_EQ(NibbleAt(t->packed, 0), 0x7);
  EXPECT_EQ(NibbleAt(t->packed, 32), 0x7);
  EXPECT_EQ(NibbleAt(t->packed, 33), 0xA);
  const RowMatrixXf d = Dequantize(*t);
  EXPECT_EQ(d(0, 32), 6.0f);
  EXPECT_EQ(d(0, 33), -1.0f);
  EXPECT_EQ(d.row(0).segment(64, 32).cwiseAbs().maxCoeff(), 0.0f);
}

TEST(Mxfp4Test, PowerOfTwoScalesFollowTheBlockMaximum) {
  RowMatrixXf w = RowMatrixXf::Zero(3, 32);
  w(0, 0) = 0.75f;    // floor(log2 .75) = -1 -> X = -3 -> code 124
  w(1, 0) = 1000.0f;  // floor(log2 1000) = 9 -> X = 7 -> code 134
  w(2, 0) = 1e-40f;   // subnormal: X clamps to -127 -> code 0
  absl::StatusOr<Mxfp4Tensor> t = QuantizeMxfp4("w", w);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->scales, ElementsAre(124, 134, 0));
  EXPECT_EQ(DecodeE8M0(124), 0.125f);
  EXPECT_TRUE(std::isnan(DecodeE8M0(kE8M0NaN)));
}

TEST(Mxfp4Test, EveryElementWithinHalfAStepOfItsBlockGrid) {
  for (Distribution dist :
       {Distribution::kGaussian, Distribution::kHeavyTailed, Distribution::kOutliers}) {
    const RowMatrixXf w = RandomMatrix(19, 128, 11, dist);
    absl::StatusOr<Mxfp4Tensor> t = QuantizeMxfp4("w", w);
    ASSERT_TRUE(t.ok()) << t.status();
    const RowMatrixXf d = Dequantize(*t);
    for (int64_t r = 0; r < w.rows(); ++r) {
      for (int64_t c = 0; c < w.cols(); ++c) {
        // Power-of-two scales make division and product exact: no slack needed.
        const double scale = DecodeE8M0(t->scales[(r * w.cols() + c) / 32]);
        ASSERT_EQ(std::fabs(d(r, c) - w(r, c)), DistanceToGrid(w(r, c), kE2M1Magnitudes, scale))
            << "at [" << r << ", " << c << "]";
      }
    }
  }
}

TEST(Mxfp4Test, RejectsBadInput) {
  EXPECT_THAT(QuantizeMxfp4("experts.3.up", RowMatrixXf::Ones(1, 48)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("experts.3.up"), HasSubstr("block size 32"))));
  RowMatrixXf nan = RowMatrixXf::Ones(1, 32);
  nan(0, 31) = std::nanf("");
  EXPECT_THAT(QuantizeMxfp4("w", nan),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("[0, 31]")));
  absl::StatusOr<Mxfp4Tensor> t = QuantizeMxfp4("w", RowMatrixXf::Ones(2, 32));
  ASSERT_TRUE(t.ok());
  t->scales[1] = kE8M0NaN;
  EXPECT_THAT(CheckConsistent("w", *t),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NaN")));
}

}  // namespace
}  // namespace fp4moe
