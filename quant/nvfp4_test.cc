#include "quant/nvfp4.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "quant/blockwise.h"
#include "quant/e2m1.h"
#include "quant/e4m3.h"
#include "quant/random_matrix.h"
#include "quant/test_matchers.h"

namespace fp4moe {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(Nvfp4Test, HandComputedBlocksPinEachRule) {
  RowMatrixXf w = RowMatrixXf::Zero(1, 48);
  // Block 0 stays zero. Block 1 holds the tensor amax 2688, so scale_2 = 2688 / 2688 = 1 and
  // its block scale is 2688 / 6 = 448. Block 2 is tiny: 0.001 / 6 < 2^-9 is clamped to 2^-9.
  w.row(0).segment(16, 5) << 2688.0f, 1344.0f, -448.0f, 224.0f, 100.0f;
  w(0, 32) = 0.001f;
  w(0, 33) = -0.0007f;
  absl::StatusOr<Nvfp4Tensor> t = QuantizeNvfp4("w", w);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->scale_2, 1.0f);
  EXPECT_THAT(t->scales, ElementsAre(0x38, 0x7E, 0x01));
  // 2688/448 = 6 -> code 7; 1344/448 = 3 -> 5; -448/448 = -1 -> 0xA; 224/448 = 0.5 -> 1;
  // 100/448 = 0.22 -> 0. Element 2j sits in the low nibble.
  EXPECT_EQ(t->packed[8], 0x57);
  EXPECT_EQ(t->packed[9], 0x1A);
  EXPECT_EQ(t->packed[10], 0x00);
  // 0.001 * 512 = 0.512 -> 0.5 (code 1); -0.0007 * 512 = -0.36 -> -0.5 (code 9).
  EXPECT_EQ(t->packed[16], 0x91);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(t->packed[i], 0) << i;

  const RowMatrixXf d = Dequantize(*t);
  EXPECT_EQ(d(0, 16), 2688.0f);
  EXPECT_EQ(d(0, 17), 1344.0f);
  EXPECT_EQ(d(0, 18), -448.0f);
  EXPECT_EQ(d(0, 19), 224.0f);
  EXPECT_EQ(d(0, 20), 0.0f);
  EXPECT_EQ(d(0, 32), 0.5f / 512);
  EXPECT_EQ(d(0, 33), -0.5f / 512);
}

TEST(Nvfp4Test, TensorScaleAndBlockScaleFollowModelOptimizer) {
  RowMatrixXf w = RowMatrixXf::Zero(2, 16);
  w(0, 0) = 6.0f;  // tensor amax
  w(1, 3) = -3.0f;
  absl::StatusOr<Nvfp4Tensor> t = QuantizeNvfp4("w", w);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->scale_2, 6.0f / 2688.0f);
  // The block holding the amax gets 448 (0x7E); the block with amax 3 gets 224 (0x76).
  EXPECT_THAT(t->scales, ElementsAre(0x7E, 0x76));
  EXPECT_EQ(NibbleAt(t->packed, 0), 0x7);
  EXPECT_EQ(NibbleAt(t->packed, 16 + 3), 0xF);
}

// Every element dequantizes to the point of its block's grid nearest to it.
void ExpectNearestGridPoints(const RowMatrixXf& w, const Nvfp4Tensor& t) {
  const RowMatrixXf d = Dequantize(t);
  for (int64_t r = 0; r < w.rows(); ++r) {
    for (int64_t c = 0; c < w.cols(); ++c) {
      const double step = static_cast<double>(DecodeE4M3(t.scales[(r * w.cols() + c) / 16])) *
                          t.scale_2;
      const double best = DistanceToGrid(w(r, c), kE2M1Magnitudes, step);
      // Slack: the float32 division and product before and after rounding.
      const double slack = 4 * std::numeric_limits<float>::epsilon() * (std::fabs(w(r, c)) + step);
      ASSERT_LE(std::fabs(d(r, c) - w(r, c)), best + slack) << "at [" << r << ", " << c << "]";
    }
  }
}

TEST(Nvfp4Test, EveryElementWithinHalfAStepOfItsBlockGrid) {
  for (Distribution dist :
       {Distribution::kGaussian, Distribution::kHeavyTailed, Distribution::kOutliers}) {
    const RowMatrixXf w = RandomMatrix(37, 256, 7, dist);
    absl::StatusOr<Nvfp4Tensor> t = QuantizeNvfp4("w", w);
    ASSERT_TRUE(t.ok()) << t.status();
    ExpectNearestGridPoints(w, *t);
  }
}

TEST(Nvfp4Test, WideDynamicRangeUsesSubnormalScales) {
  RowMatrixXf w = RandomMatrix(4, 64, 3);
  w.row(1) *= 1e-4f;
  w.row(2) *= 1e-7f;
  w(3, 5) = 1000.0f;
  absl::StatusOr<Nvfp4Tensor> t = QuantizeNvfp4("w", w);
  ASSERT_TRUE(t.ok()) << t.status();
  ExpectNearestGridPoints(w, *t);
}

TEST(Nvfp4Test, RejectsBadInput) {
  EXPECT_THAT(QuantizeNvfp4("layer0.gate", RowMatrixXf::Ones(2, 24)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("layer0.gate"), HasSubstr("multiple of the block size 16"))));
  EXPECT_THAT(QuantizeNvfp4("w", RowMatrixXf(0, 16)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  RowMatrixXf nan = RowMatrixXf::Ones(2, 16);
  nan(1, 7) = std::nanf("");
  EXPECT_THAT(QuantizeNvfp4("w", nan),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("[1, 7]")));
  RowMatrixXf inf = RowMatrixXf::Ones(2, 16);
  inf(0, 3) = -std::numeric_limits<float>::infinity();
  EXPECT_THAT(QuantizeNvfp4("w", inf),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("non-finite")));
  EXPECT_THAT(QuantizeNvfp4("w", RowMatrixXf::Zero(2, 16)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("all elements are zero")));
}

TEST(Nvfp4Test, IntoCallerStorageIsTheSameRuleAndTakesAllZeroTensors) {
  const RowMatrixXf w = RandomMatrix(5, 64, 9, Distribution::kOutliers);
  absl::StatusOr<Nvfp4Tensor> t = QuantizeNvfp4("w", w);
  ASSERT_TRUE(t.ok()) << t.status();
  // Stale bytes in the storage must not leak into the codes.
  std::vector<uint8_t> packed(5 * 64 / 2, 0xAB), scales(5 * 64 / 16, 0xCD);
  absl::StatusOr<float> scale_2 =
      QuantizeNvfp4Into("w", w, absl::MakeSpan(packed), absl::MakeSpan(scales));
  ASSERT_TRUE(scale_2.ok()) << scale_2.status();
  EXPECT_EQ(*scale_2, t->scale_2);
  EXPECT_EQ(packed, t->packed);
  EXPECT_EQ(scales, t->scales);

  // All zero: scale_2 1, block scales 1 (0x38), codes 0.
  scale_2 = QuantizeNvfp4Into("w", RowMatrixXf::Zero(5, 64), absl::MakeSpan(packed),
                              absl::MakeSpan(scales));
  ASSERT_TRUE(scale_2.ok()) << scale_2.status();
  EXPECT_EQ(*scale_2, 1.0f);
  EXPECT_EQ(packed, std::vector<uint8_t>(packed.size(), 0));
  EXPECT_EQ(scales, std::vector<uint8_t>(scales.size(), 0x38));

  EXPECT_THAT(QuantizeNvfp4Into("w", w, absl::MakeSpan(packed).subspan(1),
                                absl::MakeSpan(scales)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("packed codes")));
  EXPECT_THAT(QuantizeNvfp4Into("w", w, absl::MakeSpan(packed),
                                absl::MakeSpan(scales).subspan(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("block scales")));
}

TEST(Nvfp4Test, CheckConsistentCatchesRawTensorsThatLie) {
  absl::StatusOr<Nvfp4Tensor> t = QuantizeNvfp4("w", RandomMatrix(3, 32, 1));
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(CheckConsistent("w", *t).ok());
  Nvfp4Tensor short_codes = *t;
  short_codes.packed.pop_back();
  EXPECT_THAT(CheckConsistent("w", short_codes),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bytes of packed codes")));
  Nvfp4Tensor nan_scale = *t;
  nan_scale.scales[3] = 0xFF;
  EXPECT_THAT(CheckConsistent("w", nan_scale),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("row 1, block 1")));
  Nvfp4Tensor bad_tensor_scale = *t;
  bad_tensor_scale.scale_2 = std::numeric_limits<float>::infinity();
  EXPECT_THAT(CheckConsistent("w", bad_tensor_scale),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scale_2")));
}

}  // namespace
}  // namespace fp4moe
