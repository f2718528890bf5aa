#include "moe/routing.h"

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "quant/test_matchers.h"

namespace fp4moe::moe {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ValidateRoutingTest, NamesTokenAndSlot) {
  const std::vector<int64_t> ids = {0, 1, 2, 8};
  const std::vector<float> weights = {1, 1, 1, 1};
  EXPECT_THAT(ValidateRouting(2, 2, 8, ids.data(), weights.data()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expert_ids[token 1, slot 1] = 8 is outside [0, 8)")));
  const std::vector<int64_t> negative = {0, -1};
  EXPECT_THAT(ValidateRouting(1, 2, 8, negative.data(), weights.data()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("token 0, slot 1")));
  const std::vector<int64_t> good = {0, 1, 2, 3};
  const std::vector<float> nan = {1, 1, NAN, 1};
  EXPECT_THAT(ValidateRouting(2, 2, 8, good.data(), nan.data()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("routing_weights[token 1, slot 0]")));
  EXPECT_TRUE(ValidateRouting(2, 2, 8, good.data(), weights.data()).ok());
}

TEST(ExpertGroupingTest, CountingSortKeepsTokenOrderAndSharesRepeatedSlots) {
  ExpertGrouping grouping(4, 8, 2);
  // token 0 -> {2, 0}, token 1 -> {2, 2} (repeated), token 2 -> {0, 3}
  const std::vector<int64_t> ids = {2, 0, 2, 2, 0, 3};
  grouping.Group(3, 2, ids.data());
  EXPECT_THAT(std::vector<int64_t>(grouping.active_experts().begin(),
                                   grouping.active_experts().end()),
              ElementsAre(0, 2, 3));
  EXPECT_EQ(grouping.rows(0), 2);
  EXPECT_EQ(grouping.rows(1), 0);
  EXPECT_EQ(grouping.rows(2), 2);
  EXPECT_EQ(grouping.rows(3), 1);
  EXPECT_THAT(std::vector<int64_t>(grouping.tokens(0), grouping.tokens(0) + 2), ElementsAre(0, 2));
  EXPECT_THAT(std::vector<int64_t>(grouping.tokens(2), grouping.tokens(2) + 2), ElementsAre(0, 1));
  const int64_t* row = grouping.row_of_slot();
  EXPECT_THAT(std::vector<int64_t>(row, row + 6), ElementsAre(0, 0, 1, 1, 1, 0));
  // Regrouping reuses the storage and forgets the previous call.
  const std::vector<int64_t> one = {1, 3};
  grouping.Group(1, 2, one.data());
  EXPECT_THAT(std::vector<int64_t>(grouping.active_experts().begin(),
                                   grouping.active_experts().end()),
              ElementsAre(1, 3));
  EXPECT_EQ(grouping.rows(2), 0);
}

}  // namespace
}  // namespace fp4moe::moe
