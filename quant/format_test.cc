#include "quant/format.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "quant/test_matchers.h"

namespace fp4moe {
namespace {

using ::testing::HasSubstr;

TEST(FormatTest, TableDescribesStorageCost) {
  EXPECT_DOUBLE_EQ(TraitsOf(WeightFormat::kNvfp4).bits_per_weight(), 4.5);
  EXPECT_DOUBLE_EQ(TraitsOf(WeightFormat::kFp4FloatScale).bits_per_weight(), 6.0);
  EXPECT_DOUBLE_EQ(TraitsOf(WeightFormat::kMxfp4).bits_per_weight(), 4.25);
  EXPECT_DOUBLE_EQ(TraitsOf(WeightFormat::kInt4K2).bits_per_weight(), 4.5);
  EXPECT_EQ(TraitsOf(WeightFormat::kNvfp4).bytes_per_block(), 9);
  // INT4 K2's BF16 scale per group of 64 or 128.
  EXPECT_DOUBLE_EQ(TraitsOf(WeightFormat::kInt4K2).bits_per_weight(64), 4.25);
  EXPECT_DOUBLE_EQ(TraitsOf(WeightFormat::kInt4K2).bits_per_weight(128), 4.125);
}

TEST(FormatTest, NamesRoundTrip) {
  for (const FormatTraits& traits : AllWeightFormats()) {
    absl::StatusOr<WeightFormat> parsed = ParseWeightFormat(traits.name);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, traits.format);
    EXPECT_EQ(TraitsOf(traits.format).name, traits.name);
  }
  EXPECT_EQ(AllWeightFormats().size(), 4u);
}

TEST(FormatTest, UnknownNameListsTheKnownOnes) {
  EXPECT_THAT(ParseWeightFormat("fp5"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("fp5"), HasSubstr("nvfp4"), HasSubstr("int4_k2"))));
}

}  // namespace
}  // namespace fp4moe
