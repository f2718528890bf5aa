#include "quant/int8_activation.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "quant/random_matrix.h"
#include "quant/test_matchers.h"

namespace fp4moe {
namespace {

using ::testing::HasSubstr;

TEST(Int8ActivationTest, PerRowAndPerGroupScales) {
  RowMatrixXf x = RowMatrixXf::Zero(2, 8);
  x.row(0) << 127, -63.5f, 0.5f, 1.5f, 0, 0, 254, 1;
  absl::StatusOr<Int8Activations> per_row = QuantizeInt8("x", x);
  ASSERT_TRUE(per_row.ok()) << per_row.status();
  EXPECT_EQ(per_row->scales[0], 2.0f);
  EXPECT_EQ(per_row->scales[1], 0.0f);  // all-zero row
  EXPECT_EQ(per_row->values[0], 64);     // 63.5 -> 64 (half-even)
  EXPECT_EQ(per_row->values[1], -32);    // -31.75 -> -32
  EXPECT_EQ(per_row->values[2], 0);      // 0.25 -> 0
  EXPECT_EQ(per_row->values[6], 127);

  absl::StatusOr<Int8Activations> grouped = QuantizeInt8("x", x, 4);
  ASSERT_TRUE(grouped.ok());
  EXPECT_EQ(grouped->scales[0], 1.0f);
  EXPECT_EQ(grouped->values[1], -64);   // -63.5 -> -64 (half-even)
  EXPECT_EQ(grouped->values[2], 0);     // 0.5 -> 0 (half-even)
  EXPECT_EQ(grouped->values[3], 2);     // 1.5 -> 2 (half-even)
}

TEST(Int8ActivationTest, ErrorWithinHalfAStep) {
  const RowMatrixXf x = RandomMatrix(5, 256, 2, Distribution::kHeavyTailed);
  absl::StatusOr<Int8Activations> a = QuantizeInt8("x", x, 64);
  ASSERT_TRUE(a.ok());
  const RowMatrixXf d = Dequantize(*a);
  for (int64_t r = 0; r < x.rows(); ++r) {
    for (int64_t c = 0; c < x.cols(); ++c) {
      const float scale = a->scales[r * 4 + c / 64];
      EXPECT_LE(std::fabs(d(r, c) - x(r, c)), 0.5f * scale * (1 + 1e-5f));
    }
  }
}

TEST(Int8ActivationTest, RejectsBadInput) {
  EXPECT_THAT(QuantizeInt8("x", RowMatrixXf::Ones(2, 100), 64),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("multiple")));
  RowMatrixXf inf = RowMatrixXf::Ones(2, 64);
  inf(1, 1) = INFINITY;
  EXPECT_THAT(QuantizeInt8("hidden", inf),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("hidden"), HasSubstr("[1, 1]"))));
}

}  // namespace
}  // namespace fp4moe
