#ifndef FP4MOE_IO_MODEL_CONFIG_H_
#define FP4MOE_IO_MODEL_CONFIG_H_

// A model folder's config.json, for the families whose routed experts fp4moe runs: the shapes
// of a MoE layer, which layers have routed experts, the router's settings and the names of
// the layer's tensors. Expert E of layer N:
// - DeepseekV3ForCausalLM (DeepSeek-V3/R1, and Kimi-K2 with model_type "kimi_k2"), with
//   n_routed_experts: model.layers.N.mlp.experts.E.{gate,up,down}_proj, the shared expert
//   model.layers.N.mlp.shared_experts.*, the router model.layers.N.mlp.gate;
// - Qwen3MoeForCausalLM, with num_experts: the same names, no shared expert;
// - MixtralForCausalLM, with num_local_experts: model.layers.N.block_sparse_moe.experts.E.w1
//   (gate), .w3 (up), .w2 (down), the router model.layers.N.block_sparse_moe.gate.
// - GptOssForCausalLM, with num_local_experts: every layer's experts fused in
//   model.layers.N.mlp.experts.* (io/gpt_oss_layer.h), the router model.layers.N.mlp.router
//   with a bias.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "moe/router.h"

namespace fp4moe::io {

enum class ModelFamily { kDeepseekV3, kQwen3Moe, kMixtral, kGptOss };

// An expert's three projections, in this order everywhere.
inline constexpr int kGateProj = 0, kUpProj = 1, kDownProj = 2;

struct ModelConfig {
  std::string path;          // of config.json, for messages
  std::string architecture;  // as config.json names it ("DeepseekV3ForCausalLM"), else model_type
  std::string model_type;    // "kimi_k2" tells Kimi-K2 from DeepSeek-V3
  ModelFamily family = ModelFamily::kDeepseekV3;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_experts = 0;        // routed experts per MoE layer
  int64_t intermediate_size = 0;  // of one routed expert
  int top_k = 0;
  bool norm_topk_prob = false;
  // DeepSeek-V3 / Kimi-K2.
  int64_t first_dense_layers = 0;  // first_k_dense_replace
  int64_t moe_layer_freq = 1;
  int64_t shared_experts = 0;  // n_shared_experts: one MLP of shared_experts x intermediate_size
  int64_t groups = 1, chosen_groups = 1;  // n_group, topk_group
  double routed_scaling_factor = 1.0;
  // quantization_config.weight_block_size of FP8 checkpoints: rows and columns of the weight
  // that one `weight_scale_inv` value covers.
  std::array<int64_t, 2> fp8_block = {128, 128};
  // Qwen3-MoE.
  std::vector<int64_t> mlp_only_layers;
  int64_t decoder_sparse_step = 1;
  // gpt-oss: the clamp of its SwiGLU.
  double swiglu_limit = 7.0;

  // OK where layer `layer` has routed experts; else InvalidArgument saying why (outside the
  // layers, or a dense layer and the field that makes it one).
  absl::Status CheckMoeLayer(int64_t layer) const;

  // Tensor names without their ".weight" (or ".weight_packed", ...) suffix.
  std::string ExpertName(int64_t layer, int64_t expert, int projection) const;
  std::string SharedExpertName(int64_t layer, int projection) const;
  std::string RouterName(int64_t layer) const;
  // gpt-oss: the prefix of the layer's fused expert tensors, "model.layers.N.mlp.experts".
  std::string FusedExpertsName(int64_t layer) const;
  // "gate_proj", or Mixtral's "w1", ...
  std::string_view ProjectionName(int projection) const;

  moe::RouterConfig Router() const;
};

// Parses config.json's text; errors name `path` and the field at fault, and an architecture
// outside the four families names itself.
absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view text, const std::string& path);

}  // namespace fp4moe::io

#endif  // FP4MOE_IO_MODEL_CONFIG_H_
