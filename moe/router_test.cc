#include "moe/router.h"

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "quant/test_matchers.h"

namespace fp4moe::moe {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;

struct Routed {
  std::vector<int64_t> ids;
  std::vector<float> weights;
};

Routed RouteOne(const RouterConfig& config, std::vector<float> logits,
                std::vector<float> bias = {}) {
  Routed r;
  r.ids.resize(config.top_k);
  r.weights.resize(config.top_k);
  const Eigen::Map<const RowMatrixXf> m(logits.data(), 1, logits.size());
  const absl::Status s = Route(config, m, bias, absl::MakeSpan(r.ids), absl::MakeSpan(r.weights));
  EXPECT_TRUE(s.ok()) << s;
  return r;
}

float Sigmoid(float x) { return 1 / (1 + std::exp(-x)); }

TEST(RouterTest, MixtralTakesTheTopLogitsThenSoftmax) {
  const RouterConfig c{RouterScoring::kTopKSoftmax, 4, 2};
  const Routed r = RouteOne(c, {1, 3, 2, 0});
  EXPECT_THAT(r.ids, ElementsAre(1, 2));
  const float e = std::exp(1.0f);
  EXPECT_THAT(r.weights, ElementsAre(FloatNear(e / (1 + e), 1e-6), FloatNear(1 / (1 + e), 1e-6)));
}

TEST(RouterTest, GptOssTakesTheTopBiasedLogitsThenSoftmax) {
  // logits + bias = {1, 3, 2.5, 0}: the bias brings in expert 1 and drops expert 3 (the best
  // two unbiased logits), and the weights are the softmax of the two chosen biased logits.
  const RouterConfig c{RouterScoring::kBiasedTopKSoftmax, 4, 2};
  const Routed r = RouteOne(c, {1, 1, 2, 2.2f}, {0, 2, 0.5f, -2.2f});
  EXPECT_THAT(r.ids, ElementsAre(1, 2));
  const float e = std::exp(0.5f);
  EXPECT_THAT(r.weights, ElementsAre(FloatNear(e / (1 + e), 1e-6), FloatNear(1 / (1 + e), 1e-6)));
  // Without a bias it is Mixtral's router.
  const Routed unbiased = RouteOne(c, {1, 3, 2, 0});
  EXPECT_THAT(unbiased.ids, ElementsAre(1, 2));
}

TEST(RouterTest, Qwen3TakesTheTopSoftmaxProbabilitiesRenormalisedOnlyWhenAsked) {
  RouterConfig c{RouterScoring::kSoftmaxTopK, 4, 2};
  const std::vector<float> logits = {0, 2, 1, 0};
  const float sum = 2 + std::exp(2.0f) + std::exp(1.0f);
  Routed r = RouteOne(c, logits);
  EXPECT_THAT(r.ids, ElementsAre(1, 2));
  EXPECT_THAT(r.weights, ElementsAre(FloatNear(std::exp(2.0f) / sum, 1e-6),
                                     FloatNear(std::exp(1.0f) / sum, 1e-6)));
  c.norm_topk_prob = true;
  r = RouteOne(c, logits);
  const float chosen = std::exp(2.0f) + std::exp(1.0f);
  EXPECT_THAT(r.weights, ElementsAre(FloatNear(std::exp(2.0f) / chosen, 1e-6),
                                     FloatNear(std::exp(1.0f) / chosen, 1e-6)));
}

TEST(RouterTest, DeepseekChoosesWithinTheBestGroupsOnBiasedScores) {
  // Four groups of two; group scores are the sums of each group's two scores: group 2
  // (experts 4, 5) wins although expert 6 has the best score of all.
  RouterConfig c{RouterScoring::kSigmoidGrouped, 8, 2};
  c.groups = 4;
  c.chosen_groups = 1;
  c.scaling = 2.0f;
  c.norm_topk_prob = true;
  Routed r = RouteOne(c, {0, 0, 2, -2, 1, 1, 3, -5});
  EXPECT_THAT(r.ids, ElementsAre(4, 5));
  EXPECT_THAT(r.weights, ElementsAre(FloatNear(1.0f, 1e-6), FloatNear(1.0f, 1e-6)));

  // The bias moves the choice (expert 1 over expert 0 in group 0), not the weights: these are
  // the unbiased sigmoids, scaled without normalisation.
  c.chosen_groups = 2;
  c.norm_topk_prob = false;
  r = RouteOne(c, {0.5f, 0, -1, -1, -1, -1, -1, 2}, {0, 1, 0, 0, 0, 0, 0, 0});
  EXPECT_THAT(r.ids, ElementsAre(1, 7));
  EXPECT_THAT(r.weights, ElementsAre(FloatNear(2 * Sigmoid(0), 1e-6),
                                     FloatNear(2 * Sigmoid(2), 1e-6)));
}

TEST(RouterTest, DeepseekExpertsOfDroppedGroupsCompeteWithAScoreOfZero) {
  // As in Hugging Face's code: biased scores below 0 in the kept group lose to the 0 that the
  // dropped group's experts are given.
  RouterConfig c{RouterScoring::kSigmoidGrouped, 4, 2};
  c.groups = 2;
  c.chosen_groups = 1;
  const Routed r = RouteOne(c, {0, 0, 0, 0}, {-1, -1, -3, -3});
  EXPECT_THAT(r.ids, ElementsAre(2, 3));
}

TEST(RouterTest, RefusesNonFiniteLogitsAndBadConfigs) {
  const RouterConfig c{RouterScoring::kSoftmaxTopK, 4, 2};
  std::vector<float> logits = {0, 1, 2, 3, 0, NAN, 1, 1};
  std::vector<int64_t> ids(4);
  std::vector<float> weights(4);
  const Eigen::Map<const RowMatrixXf> m(logits.data(), 2, 4);
  EXPECT_THAT(Route(c, m, {}, absl::MakeSpan(ids), absl::MakeSpan(weights)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the logits of token 1 are not all finite")));

  RouterConfig grouped{RouterScoring::kSigmoidGrouped, 6, 2};
  grouped.groups = 4;
  EXPECT_THAT(grouped.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("6 experts do not split into 4 groups")));
  grouped.groups = 3;
  grouped.chosen_groups = 4;
  EXPECT_THAT(grouped.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("chosen groups must be in [1, 3]")));
  EXPECT_THAT((RouterConfig{RouterScoring::kTopKSoftmax, 4, 5}.Validate()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("top_k must be in [1, 4]")));
  const std::vector<float> bias(4, 0.0f);
  EXPECT_THAT(Route(c, m, bias, absl::MakeSpan(ids), absl::MakeSpan(weights)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("only the sigmoid and gpt-oss routers")));
}

}  // namespace
}  // namespace fp4moe::moe
