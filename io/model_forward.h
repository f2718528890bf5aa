#ifndef FP4MOE_IO_MODEL_FORWARD_H_
#define FP4MOE_IO_MODEL_FORWARD_H_

#include <string>

#include "absl/status/statusor.h"
#include "io/moe_checkpoint.h"

namespace fp4moe::io {

// Runs MoE layer options.layer of the model folder options.model (io/model_folder.h) on
// `hidden_states` [T, H] (F32 or BF16) of options.input. Where the input also holds
// `topk_ids` and `topk_weights` [T, k] (over the routed experts) they route the tokens, else
// the layer's router does, as the family's model does (moe/router.h). A DeepSeek shared expert
// runs for every token with weight 1 (io/model_layer.h). Writes `output` [T, H] F32 and the
// routed `topk_ids` (I64) and `topk_weights` (F32) used to options.output, and returns a line
// saying what ran and how long loading and the forward pass took.
absl::StatusOr<std::string> RunModelForward(const ForwardOptions& options);

}  // namespace fp4moe::io

#endif  // FP4MOE_IO_MODEL_FORWARD_H_
