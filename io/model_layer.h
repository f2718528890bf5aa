#ifndef FP4MOE_IO_MODEL_LAYER_H_
#define FP4MOE_IO_MODEL_LAYER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "io/model_folder.h"
#include "moe/expert_weights.h"
#include "moe/moe_config.h"
#include "quant/format.h"
#include "quant/matrix.h"

namespace fp4moe::io {

struct LayerLoadOptions {
  // The format the layer runs: float and FP8 sources are quantized to it, quantized ones must
  // be in it. nullopt: the format of the quantized experts, or NVFP4 where all are float.
  std::optional<WeightFormat> format;
  int64_t group_size = 32;  // INT4 K2 from float sources, where no expert is stored in INT4
  int threads = 1;          // experts are read and quantized in parallel
};

// The routed experts of one MoE layer of a model folder, as the operator runs them: experts
// 0 .. routed_experts - 1, then, for DeepSeek-V3 / Kimi-K2 where n_shared_experts > 0, the
// shared expert as `shared_slots` more experts that every token chooses with weight 1. A
// shared MLP of n x moe_intermediate_size is n slices of moe_intermediate_size (rows of gate
// and up, columns of down), whose outputs sum to its output: so the operator needs no change
// and the shared expert costs what n routed experts do. A float shared expert beside quantized
// routed ones (Kimi-K2-Thinking's BF16 shared expert beside INT4 routed experts) is quantized
// to the layer's format.
struct ModelLayer {
  int64_t layer = 0;
  WeightFormat format = WeightFormat::kNvfp4;
  int64_t group_size = 32;  // INT4 K2 only
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t routed_experts = 0;
  int64_t shared_slots = 0;
  std::vector<moe::ExpertQuantizedWeights> experts;  // routed, then the shared slices
  // gpt-oss: one ExpertBiases per expert, and its clamped SwiGLU; else none and SiLU.
  std::vector<moe::ExpertBiases> biases;
  moe::ExpertActivation activation = moe::ExpertActivation::kSiluMul;
  float swiglu_limit = 7.0f;
  std::string storage;  // how the experts were stored, e.g. "F8_E4M3" or "int4_k2 + BF16"
};

// Checks that `layer` has routed experts, finds every expert tensor (config.json's naming for
// the family), checks its shape against config.json, and reads and quantizes the experts.
// Errors name the file and the tensor.
absl::StatusOr<ModelLayer> LoadModelLayer(ModelFolder& folder, int64_t layer,
                                          const LayerLoadOptions& options);

// The layer's router: its weight [E, H] (float or FP8) and, for DeepSeek-V3 / Kimi-K2, its
// e_score_correction_bias [E], for gpt-oss its bias [E].
struct LayerRouter {
  RowMatrixXf weight;
  std::vector<float> bias;
};
absl::StatusOr<LayerRouter> LoadRouter(ModelFolder& folder, int64_t layer);

// Routes hidden [T, H] as the family's model does (moe/router.h): ids and weights [T, top_k].
absl::Status RouteTokens(const ModelConfig& config, const LayerRouter& router,
                         ConstRowMatrixRef hidden, absl::Span<int64_t> ids,
                         absl::Span<float> weights);

}  // namespace fp4moe::io

#endif  // FP4MOE_IO_MODEL_LAYER_H_
