#include "quant/int4_k2.h"

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "quant/bf16.h"
#include "quant/blockwise.h"
#include "quant/random_matrix.h"
#include "quant/test_matchers.h"

namespace fp4moe {
namespace {

using ::testing::HasSubstr;

TEST(Int4K2Test, SymmetricRangeClipsThePositiveEnd) {
  RowMatrixXf w = RowMatrixXf::Zero(2, 32);
  w(0, 0) = 7.5f;   // scale 1: 7.5 rounds to 8, clipped to 7
  w(0, 1) = -7.5f;  // -8 fits
  w(0, 2) = 2.5f;   // half-even: 2
  w(0, 3) = 3.5f;   // half-even: 4
  w(0, 4) = -0.5f;  // half-even: -0
  absl::StatusOr<Int4K2Tensor> t = QuantizeInt4K2("w", w, 32, Int4ScaleType::kFloat32);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->scales[0], 1.0f);
  EXPECT_EQ(DecodeInt4(NibbleAt(t->packed, 0)), 7);
  EXPECT_EQ(DecodeInt4(NibbleAt(t->packed, 1)), -8);
  EXPECT_EQ(DecodeInt4(NibbleAt(t->packed, 2)), 2);
  EXPECT_EQ(DecodeInt4(NibbleAt(t->packed, 3)), 4);
  EXPECT_EQ(DecodeInt4(NibbleAt(t->packed, 4)), 0);
  // An all-zero group keeps a positive scale, float32's epsilon.
  EXPECT_EQ(t->scales[1], std::numeric_limits<float>::epsilon());
}

TEST(Int4K2Test, DecodesAllSixteenNibbles) {
  for (uint8_t code = 0; code < 16; ++code) {
    EXPECT_EQ(DecodeInt4(code), code < 8 ? code : code - 16);
  }
}

TEST(Int4K2Test, Bf16ScalesAreRoundedBeforeQuantizing) {
  const RowMatrixXf w = RandomMatrix(8, 128, 9);
  absl::StatusOr<Int4K2Tensor> t = QuantizeInt4K2("w", w, 64);
  ASSERT_TRUE(t.ok()) << t.status();
  const RowMatrixXf d = Dequantize(*t);
  for (int64_t r = 0; r < w.rows(); ++r) {
    for (int64_t g = 0; g < 2; ++g) {
      const float scale = t->scales[r * 2 + g];
      const float amax = w.row(r).segment(g * 64, 64).cwiseAbs().maxCoeff();
      EXPECT_EQ(scale, RoundToBf16(amax / 7.5f));
      for (int64_t i = 0; i < 64; ++i) {
        const int64_t c = g * 64 + i;
        const float q = std::clamp(std::nearbyint(w(r, c) / scale), -8.0f, 7.0f);
        ASSERT_EQ(d(r, c), q * scale) << "at [" << r << ", " << c << "]";
      }
    }
  }
}

TEST(Int4K2Test, EveryElementWithinHalfAStepOfItsGroupGrid) {
  static constexpr float kInt4Magnitudes[] = {0, 1, 2, 3, 4, 5, 6, 7};
  for (int64_t group : {32, 64, 128}) {
    const RowMatrixXf w = RandomMatrix(9, 256, 13, Distribution::kOutliers);
    absl::StatusOr<Int4K2Tensor> t = QuantizeInt4K2("w", w, group, Int4ScaleType::kFloat32);
    ASSERT_TRUE(t.ok()) << t.status();
    const RowMatrixXf d = Dequantize(*t);
    for (int64_t r = 0; r < w.rows(); ++r) {
      for (int64_t c = 0; c < w.cols(); ++c) {
        const double scale = t->scales[(r * w.cols() + c) / group];
        // The grid is -8..7: for negatives -8 is one more point.
        const double to_grid = std::min(DistanceToGrid(w(r, c), kInt4Magnitudes, scale),
                                        std::fabs(w(r, c) + 8 * scale));
        const double slack = 4 * std::numeric_limits<float>::epsilon() * (std::fabs(w(r, c)) + scale);
        ASSERT_LE(std::fabs(d(r, c) - w(r, c)), to_grid + slack) << group << " [" << r << ", " << c << "]";
      }
    }
  }
}

TEST(Int4K2Test, RejectsBadInput) {
  EXPECT_THAT(QuantizeInt4K2("experts.0.down", RowMatrixXf::Ones(2, 96), 64),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("experts.0.down"), HasSubstr("block size 64"))));
  EXPECT_THAT(QuantizeInt4K2("w", RowMatrixXf::Ones(2, 64), 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("block size 0")));
  EXPECT_THAT(QuantizeInt4K2("w", RowMatrixXf::Ones(2, 63), 21),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("odd")));
  absl::StatusOr<Int4K2Tensor> t = QuantizeInt4K2("w", RowMatrixXf::Ones(2, 64));
  ASSERT_TRUE(t.ok());
  t->scales.pop_back();
  EXPECT_THAT(CheckConsistent("w", *t),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("block scales")));
}

}  // namespace
}  // namespace fp4moe
