#include "moe/router.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "absl/strings/str_format.h"
#include "quant/validate.h"

namespace fp4moe::moe {
namespace {

// The indices of the k largest scores, largest first, equal scores by ascending index.
void TopK(absl::Span<const float> scores, int64_t k, std::vector<int64_t>& order) {
  order.resize(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
    return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
  });
  order.resize(k);
}

float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// Scratch for one token.
struct TokenScratch {
  std::vector<float> scores, choice, group_scores;
  std::vector<int64_t> order, group_order;
  std::vector<char> kept_group;
};

// kSigmoidGrouped for one token: fills ids and weights [top_k].
void RouteSigmoidGrouped(const RouterConfig& c, const float* logits, absl::Span<const float> bias,
                         TokenScratch& s, int64_t* ids, float* weights) {
  const int64_t per_group = c.num_experts / c.groups;
  s.scores.resize(c.num_experts);
  s.choice.resize(c.num_experts);
  for (int64_t e = 0; e < c.num_experts; ++e) {
    s.scores[e] = Sigmoid(logits[e]);
    s.choice[e] = s.scores[e] + (bias.empty() ? 0.0f : bias[e]);
  }
  s.group_scores.resize(c.groups);
  for (int64_t g = 0; g < c.groups; ++g) {
    TopK(absl::MakeConstSpan(s.choice).subspan(g * per_group, per_group), 2, s.order);
    s.group_scores[g] = s.choice[g * per_group + s.order[0]] + s.choice[g * per_group + s.order[1]];
  }
  TopK(s.group_scores, c.chosen_groups, s.group_order);
  s.kept_group.assign(c.groups, 0);
  for (int64_t g : s.group_order) s.kept_group[g] = 1;
  for (int64_t e = 0; e < c.num_experts; ++e) {
    if (!s.kept_group[e / per_group]) s.choice[e] = 0.0f;
  }
  TopK(s.choice, c.top_k, s.order);
  float sum = 0.0f;
  for (int j = 0; j < c.top_k; ++j) sum += s.scores[s.order[j]];
  // Hugging Face adds 1e-20 to the sum, which only matters where every chosen score is 0.
  const float scale = c.norm_topk_prob ? c.scaling / (sum + 1e-20f) : c.scaling;
  for (int j = 0; j < c.top_k; ++j) {
    ids[j] = s.order[j];
    weights[j] = s.scores[s.order[j]] * scale;
  }
}

// kSoftmaxTopK, kTopKSoftmax and kBiasedTopKSoftmax (`bias` empty or added to the logits)
// for one token.
void RouteSoftmax(const RouterConfig& c, const float* logits, absl::Span<const float> bias,
                  TokenScratch& s, int64_t* ids, float* weights) {
  if (!bias.empty()) {
    s.choice.resize(c.num_experts);
    for (int64_t e = 0; e < c.num_experts; ++e) s.choice[e] = logits[e] + bias[e];
    logits = s.choice.data();
  }
  const float max = *std::max_element(logits, logits + c.num_experts);
  s.scores.resize(c.num_experts);
  float sum = 0.0f;
  for (int64_t e = 0; e < c.num_experts; ++e) {
    s.scores[e] = std::exp(logits[e] - max);
    sum += s.scores[e];
  }
  if (c.scoring == RouterScoring::kSoftmaxTopK) {
    for (float& p : s.scores) p /= sum;
    TopK(s.scores, c.top_k, s.order);
  } else {
    TopK(absl::MakeConstSpan(logits, c.num_experts), c.top_k, s.order);
  }
  const bool renormalize = c.scoring != RouterScoring::kSoftmaxTopK || c.norm_topk_prob;
  float chosen = 0.0f;
  for (int j = 0; j < c.top_k; ++j) chosen += s.scores[s.order[j]];
  for (int j = 0; j < c.top_k; ++j) {
    ids[j] = s.order[j];
    weights[j] = renormalize ? s.scores[s.order[j]] / chosen : s.scores[s.order[j]];
  }
}

}  // namespace

std::string_view RouterScoringName(RouterScoring scoring) {
  switch (scoring) {
    case RouterScoring::kSigmoidGrouped:
      return "sigmoid, group-limited top-k";
    case RouterScoring::kSoftmaxTopK:
      return "softmax, top-k";
    case RouterScoring::kBiasedTopKSoftmax:
      return "top-k of biased logits, softmax";
    default:
      return "top-k, softmax";
  }
}

absl::Status RouterConfig::Validate() const {
  if (num_experts < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("router: num_experts must be positive, got %d", num_experts));
  }
  if (top_k < 1 || top_k > num_experts) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "router: top_k must be in [1, %d] (the experts), got %d", num_experts, top_k));
  }
  if (scoring != RouterScoring::kSigmoidGrouped) return absl::OkStatus();
  if (groups < 1 || num_experts % groups != 0 || num_experts / groups < 2) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "router: %d experts do not split into %d groups of at least two", num_experts, groups));
  }
  if (chosen_groups < 1 || chosen_groups > groups) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "router: chosen groups must be in [1, %d] (the groups), got %d", groups, chosen_groups));
  }
  if (!std::isfinite(scaling) || scaling <= 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("router: the scaling factor must be positive and finite, got %g", scaling));
  }
  return absl::OkStatus();
}

absl::Status Route(const RouterConfig& config, ConstRowMatrixRef logits,
                   absl::Span<const float> bias, absl::Span<int64_t> ids,
                   absl::Span<float> weights) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  const int64_t tokens = logits.rows();
  if (logits.cols() != config.num_experts || ids.size() != tokens * config.top_k ||
      weights.size() != ids.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "router: logits [%d, %d], ids of %d and weights of %d do not fit %d experts, top-%d",
        tokens, logits.cols(), ids.size(), weights.size(), config.num_experts, config.top_k));
  }
  const bool takes_bias = config.scoring == RouterScoring::kSigmoidGrouped ||
                          config.scoring == RouterScoring::kBiasedTopKSoftmax;
  if (!bias.empty() && (!takes_bias || bias.size() != config.num_experts)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "router: a bias of %d values, expected %s", bias.size(),
        takes_bias ? absl::StrFormat("%d (one per expert)", config.num_experts)
                   : std::string("none (only the sigmoid and gpt-oss routers take one)")));
  }
  for (size_t e = 0; e < bias.size(); ++e) {
    if (!std::isfinite(bias[e])) {
      return absl::InvalidArgumentError(
          absl::StrFormat("router: bias of expert %d is %g, not finite", e, bias[e]));
    }
  }
  TokenScratch scratch;
  for (int64_t t = 0; t < tokens; ++t) {
    const float* row = logits.data() + t * logits.outerStride();
    if (!AllFinite(row, config.num_experts)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "router: the logits of token %d are not all finite (a NaN or infinity in "
          "hidden_states or the router weight)",
          t));
    }
    int64_t* token_ids = ids.data() + t * config.top_k;
    float* token_weights = weights.data() + t * config.top_k;
    if (config.scoring == RouterScoring::kSigmoidGrouped) {
      RouteSigmoidGrouped(config, row, bias, scratch, token_ids, token_weights);
    } else {
      RouteSoftmax(config, row, bias, scratch, token_ids, token_weights);
    }
  }
  return absl::OkStatus();
}

}  // namespace fp4moe::moe
