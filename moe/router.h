#ifndef FP4MOE_MOE_ROUTER_H_
#define FP4MOE_MOE_ROUTER_H_

// The routers of the model families fp4moe runs, as Hugging Face's modeling code defines them:
// from a token's router logits (hidden_states x router weight^T) to its top-k expert ids and
// routing weights.

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "quant/matrix.h"

namespace fp4moe::moe {

enum class RouterScoring {
  // DeepSeek-V3 / Kimi-K2: s = sigmoid(logits); experts are chosen on s + bias (the
  // e_score_correction_bias), only within the `chosen_groups` groups of experts whose two
  // best s + bias sum highest (experts of the other groups compete with a score of 0, as in
  // Hugging Face's code); the weights are the chosen s, divided by their sum where
  // norm_topk_prob, times routed_scaling_factor.
  kSigmoidGrouped,
  // Qwen3-MoE: softmax over all experts, the top k, divided by their sum where norm_topk_prob.
  kSoftmaxTopK,
  // Mixtral: the top k logits, softmax over those k.
  kTopKSoftmax,
  // gpt-oss: as kTopKSoftmax on logits + bias (the router's own bias, one per expert).
  kBiasedTopKSoftmax,
};

std::string_view RouterScoringName(RouterScoring scoring);

struct RouterConfig {
  RouterScoring scoring = RouterScoring::kSoftmaxTopK;
  int64_t num_experts = 0;
  int top_k = 0;
  bool norm_topk_prob = false;
  // kSigmoidGrouped only: experts in `groups` equal groups, of which `chosen_groups` are kept.
  int64_t groups = 1;
  int64_t chosen_groups = 1;
  float scaling = 1.0f;

  // InvalidArgument naming the first field out of range (top_k above the experts, groups that
  // do not divide the experts or hold fewer than two, ...).
  absl::Status Validate() const;
};

// ids and weights [T, top_k] for logits [T, num_experts]; `bias` [num_experts] for
// kSigmoidGrouped and kBiasedTopKSoftmax (empty: no bias), empty otherwise. Ids of a token are in descending order of
// the score they were chosen on, equal scores by ascending id (PyTorch leaves that order
// unspecified). A token whose logits are not all finite is an InvalidArgument naming it.
absl::Status Route(const RouterConfig& config, ConstRowMatrixRef logits,
                   absl::Span<const float> bias, absl::Span<int64_t> ids,
                   absl::Span<float> weights);

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_ROUTER_H_
