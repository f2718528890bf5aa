#ifndef FP4MOE_IO_MODEL_FORWARD_H_
#define FP4MOE_IO_MODEL_FORWARD_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/model_folder.h"
#include "io/model_layer.h"
#include "io/moe_checkpoint.h"
#include "io/safetensors.h"
#include "kernels/microkernel.h"
#include "moe/moe.h"
#include "quant/format.h"

namespace fp4moe::io {

// `threads`, or all cores where it is 0 (what --threads=0 and the Python module's threads=0
// mean), within moe::kMaxThreads.
int ThreadsOrAllCores(int threads);

struct LayerRunOptions {
  std::optional<WeightFormat> format;     // LayerLoadOptions::format
  int64_t group_size = 32;                // INT4 K2 from float sources
  std::optional<kernels::GemmPath> path;  // nullopt: the layer's default
  int threads = 1;
};

// What one Forward ran: output [T, H] and the routed topk_ids / topk_weights [T, k] used.
struct LayerForward {
  std::vector<float> output;
  TokenRouting routing;
  bool from_router = false;
  double seconds = 0;  // the MoE forward pass alone
  std::string kernels;  // which kernels ran, e.g. "w4a8 path on avx512"
};

// One MoE layer of a model folder (io/model_folder.h), opened cheaply, loaded once (its experts
// read and quantized, its router read on first need) and run on hidden states held anywhere in
// memory: //io:forward --model and the Python module (python/) both run layers through it.
// Not for concurrent Forward calls (moe::MoeLayer's workspace is shared).
class ModelMoeLayer {
 public:
  // Opens the folder and checks that `layer` has routed experts; reads no weights.
  static absl::StatusOr<std::unique_ptr<ModelMoeLayer>> Open(const std::string& dir,
                                                             int64_t layer,
                                                             const LayerRunOptions& options);

  const ModelConfig& config() const { return folder_->config(); }
  const ModelFolder& folder() const { return *folder_; }
  // Reads and quantizes the experts (once; later calls return at once) and packs them into the
  // operator, which keeps the only copy: layer().experts is empty afterwards.
  absl::Status Load();
  const ModelLayer& layer() const { return layer_; }

  // Checks hidden states [T, H] (F32 or BF16, H = hidden_size) and given routing ([T, k],
  // ids among the routed experts, finite weights) before any work; `where` names their source
  // in errors (a file, or "forward()").
  absl::Status CheckHidden(const TensorView& hidden, std::string_view where) const;
  absl::Status CheckRouting(int64_t tokens, const TokenRouting& routing,
                            std::string_view where) const;

  // Runs the layer (loading it first where needed) on `hidden` with `routing`, or where it is
  // nullopt with the routing the layer's router computes as the family's model does
  // (moe/router.h). A DeepSeek shared expert runs for every token with weight 1.
  // `output_label` names the output in errors (non-finite values).
  absl::StatusOr<LayerForward> Forward(const TensorView& hidden,
                                       std::optional<TokenRouting> routing,
                                       std::string_view where, std::string_view output_label);

 private:
  ModelMoeLayer() = default;
  absl::StatusOr<TokenRouting> Route(const TensorView& hidden, std::string_view where);

  std::unique_ptr<ModelFolder> folder_;
  int64_t index_ = 0;
  LayerRunOptions options_;
  bool loaded_ = false;
  ModelLayer layer_;
  std::optional<LayerRouter> router_;
  // Created by Load; its workspace grows (Reserve) with the tokens and experts of a call.
  std::unique_ptr<moe::MoeLayer> operator_;
};

// //io:forward --model: runs MoE layer options.layer of the model folder options.model on
// `hidden_states` [T, H] (F32 or BF16) of options.input, routed by its `topk_ids` and
// `topk_weights` [T, k] where it holds them, else by the layer's router (ModelMoeLayer).
// Writes `output` [T, H] F32 and the routed `topk_ids` (I64) and `topk_weights` (F32) used to
// options.output, and returns a line saying what ran and how long loading and the forward pass
// took.
absl::StatusOr<std::string> RunModelForward(const ForwardOptions& options);

}  // namespace fp4moe::io

#endif  // FP4MOE_IO_MODEL_FORWARD_H_
