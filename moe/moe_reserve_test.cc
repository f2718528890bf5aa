// MoeLayer::Reserve: a layer grown to more tokens and experts per token computes what a layer
// created at that size computes, from the weights it packed at Create.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "moe/moe.h"
#include "moe/moe_test_helpers.h"
#include "quant/random_matrix.h"

namespace fp4moe::moe {
namespace {

using ::testing::HasSubstr;

// SmallConfig's layer for max_len tokens of k experts, in two parts (each with a workspace of
// its own to grow).
MoeConfig Config(int64_t max_len, int k) {
  MoeConfig c = SmallConfig(WeightFormat::kNvfp4, std::nullopt, /*tp_parts=*/2);
  c.max_len = max_len;
  c.num_experts_per_tok = k;
  return c;
}

// Output of `layer` on qlen tokens, token t routed to experts (t + j) % kExperts, j < k.
absl::StatusOr<std::vector<float>> ForwardOn(MoeLayer& layer, int64_t qlen, int k) {
  const RowMatrixXf x = RandomMatrix(qlen, kHidden, 99, Distribution::kGaussian, 1.0f);
  std::vector<int64_t> ids;
  std::vector<float> weights;
  for (int64_t t = 0; t < qlen; ++t) {
    for (int j = 0; j < k; ++j) {
      ids.push_back((t + j) % kExperts);
      weights.push_back(0.5f + 0.1f * static_cast<float>(j));
    }
  }
  std::vector<float> output(qlen * kHidden);
  absl::Status s = layer.Forward(qlen, k, ids.data(), weights.data(), x.data(), output.data());
  if (!s.ok()) return s;
  return output;
}

TEST(MoeReserveTest, GrownLayerComputesWhatALayerCreatedAtThatSizeDoes) {
  const std::vector<ExpertFloatWeights> experts = RandomExperts(1);
  absl::StatusOr<std::unique_ptr<MoeLayer>> grown = MoeLayer::Create(Config(2, 1), experts);
  absl::StatusOr<std::unique_ptr<MoeLayer>> created = MoeLayer::Create(Config(40, 3), experts);
  ASSERT_TRUE(grown.ok()) << grown.status();
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_THAT(ForwardOn(**grown, 40, 3).status().message(), HasSubstr("max_len = 2"));

  ASSERT_TRUE((*grown)->Reserve(40, 3).ok());
  EXPECT_EQ((*grown)->config().max_len, 40);
  EXPECT_EQ((*grown)->config().num_experts_per_tok, 3);
  for (const int64_t qlen : {40, 3, 17}) {  // prefill, decode, prefill again
    absl::StatusOr<std::vector<float>> got = ForwardOn(**grown, qlen, 3);
    absl::StatusOr<std::vector<float>> want = ForwardOn(**created, qlen, 3);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(want.ok()) << want.status();
    EXPECT_EQ(*got, *want) << qlen << " tokens";
  }
}

TEST(MoeReserveTest, NeverShrinks) {
  absl::StatusOr<std::unique_ptr<MoeLayer>> layer = MoeLayer::Create(Config(16, 2), RandomExperts(2));
  ASSERT_TRUE(layer.ok()) << layer.status();
  ASSERT_TRUE((*layer)->Reserve(4, 3).ok());
  EXPECT_EQ((*layer)->config().max_len, 16);
  EXPECT_EQ((*layer)->config().num_experts_per_tok, 3);
  EXPECT_TRUE(ForwardOn(**layer, 16, 3).ok());
}

TEST(MoeReserveTest, RefusalsLeaveTheLayerAsItWas) {
  absl::StatusOr<std::unique_ptr<MoeLayer>> layer = MoeLayer::Create(Config(8, 2), RandomExperts(2));
  ASSERT_TRUE(layer.ok()) << layer.status();
  const absl::StatusOr<std::vector<float>> before = ForwardOn(**layer, 8, 2);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ((*layer)->Reserve(int64_t{1} << 40, 2).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT((*layer)->Reserve(8, kExperts + 1).message(), HasSubstr("num_experts_per_tok"));
  EXPECT_EQ((*layer)->config().max_len, 8);
  EXPECT_EQ((*layer)->config().num_experts_per_tok, 2);
  const absl::StatusOr<std::vector<float>> after = ForwardOn(**layer, 8, 2);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, *before);
}

}  // namespace
}  // namespace fp4moe::moe
