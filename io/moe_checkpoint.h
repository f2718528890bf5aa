#ifndef FP4MOE_IO_MOE_CHECKPOINT_H_
#define FP4MOE_IO_MOE_CHECKPOINT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/safetensors.h"
#include "kernels/microkernel.h"
#include "moe/expert_weights.h"
#include "moe/moe.h"
#include "quant/format.h"

namespace fp4moe::io {

// The experts `<prefix>.<e>.{gate,up,down}_proj` of one file, e = 0 .. count - 1, either all
// float or all quantized in one format (io/checkpoint.h naming).
struct LoadedExperts {
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  std::optional<WeightFormat> format;  // nullopt: float weights, in float_experts
  int64_t group_size = 0;              // INT4 K2 only
  std::vector<moe::ExpertFloatWeights> float_experts;
  std::vector<moe::ExpertQuantizedWeights> quantized_experts;

  int64_t count() const {
    return format ? quantized_experts.size() : float_experts.size();
  }
};

// Counts the experts by their names; every expert must have all three projections, of the
// same storage and with gate, up [I, H] and down [H, I] agreeing with expert 0's. Errors name
// the expert and the projection.
absl::StatusOr<LoadedExperts> LoadExperts(const SafetensorsFile& file, std::string_view prefix);

// hidden_states [T, H] of an input file: F32 or BF16, with H = hidden_size.
absl::StatusOr<const TensorView*> ReadHiddenStates(const SafetensorsFile& input,
                                                   int64_t hidden_size);

// A token's experts and routing weights, [T, k] each.
struct TokenRouting {
  int k = 0;
  std::vector<int64_t> ids;
  std::vector<float> weights;
};
// topk_ids [T, k] (I32 or I64) and topk_weights [T, k] (F32) of an input file.
absl::StatusOr<TokenRouting> ReadTokenRouting(const SafetensorsFile& input, int64_t tokens);

// Runs `layer` on hidden_states (F32 or BF16 [T, H], as ReadHiddenStates checks them):
// output [T, H], or an error naming `output_path`'s tensor where finite inputs overflow float.
absl::StatusOr<std::vector<float>> ForwardTensor(moe::MoeLayer& layer, const TensorView& hidden,
                                                 const TokenRouting& routing,
                                                 std::string_view output_path);

struct ForwardOptions {
  // Single-file mode: experts `<prefix>.<e>.*` of `weights`. Model mode: layer `layer` of the
  // model folder `model` (io/model_forward.h).
  std::string weights, prefix, model;
  int64_t layer = -1;
  std::string input, output;
  std::optional<kernels::GemmPath> path;  // nullopt: the layer's default
  int threads = 1;
  // Float weights are quantized to this (default NVFP4); quantized ones must match it.
  std::optional<WeightFormat> format;
  int64_t group_size = 32;  // INT4 K2 from float weights
};

// Loads the experts of `weights`, reads `hidden_states` [T, H] (F32 or BF16), `topk_ids`
// [T, k] (I32 or I64) and `topk_weights` [T, k] (F32) from `input`, runs a moe::MoeLayer
// and writes `output` [T, H] F32 to `output`.
absl::Status RunForward(const ForwardOptions& options);

}  // namespace fp4moe::io

#endif  // FP4MOE_IO_MOE_CHECKPOINT_H_
