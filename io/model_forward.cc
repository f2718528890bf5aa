#include "io/model_forward.h"

#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "io/model_folder.h"
#include "io/model_layer.h"
#include "io/safetensors.h"
#include "moe/moe.h"
#include "moe/routing.h"

namespace fp4moe::io {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The routing of the input where it has one, else the router's.
absl::StatusOr<TokenRouting> RouteInput(ModelFolder& folder, int64_t layer,
                                        const SafetensorsFile& input, int64_t tokens,
                                        bool& from_router) {
  const ModelConfig& config = folder.config();
  from_router = !input.contains("topk_ids") && !input.contains("topk_weights");
  if (!from_router) {
    absl::StatusOr<TokenRouting> routing = ReadTokenRouting(input, tokens);
    if (!routing.ok()) return routing.status();
    if (absl::Status s = moe::ValidateRouting(tokens, routing->k, config.num_experts,
                                              routing->ids.data(), routing->weights.data());
        !s.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: %s (topk_ids name the %d routed experts)", input.path(), s.message(),
          config.num_experts));
    }
    return routing;
  }
  absl::StatusOr<LayerRouter> router = LoadRouter(folder, layer);
  if (!router.ok()) return router.status();
  absl::StatusOr<RowMatrixXf> hidden = input.ReadMatrix("hidden_states");
  if (!hidden.ok()) return hidden.status();
  TokenRouting routing;
  routing.k = config.top_k;
  routing.ids.resize(tokens * routing.k);
  routing.weights.resize(tokens * routing.k);
  if (absl::Status s = RouteTokens(config, *router, *hidden, absl::MakeSpan(routing.ids),
                                   absl::MakeSpan(routing.weights));
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: %s", input.path(), s.message()));
  }
  return routing;
}

// The routing with the shared expert's slices (experts first .. first + slices - 1) added to
// every token with weight 1.
TokenRouting WithSharedExpert(const TokenRouting& routed, int64_t tokens, int64_t first,
                              int64_t slices) {
  TokenRouting all;
  all.k = routed.k + static_cast<int>(slices);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int j = 0; j < routed.k; ++j) {
      all.ids.push_back(routed.ids[t * routed.k + j]);
      all.weights.push_back(routed.weights[t * routed.k + j]);
    }
    for (int64_t s = 0; s < slices; ++s) {
      all.ids.push_back(first + s);
      all.weights.push_back(1.0f);
    }
  }
  return all;
}

}  // namespace

absl::StatusOr<std::string> RunModelForward(const ForwardOptions& options) {
  const Clock::time_point start = Clock::now();
  absl::StatusOr<std::unique_ptr<ModelFolder>> folder = ModelFolder::Open(options.model);
  if (!folder.ok()) return folder.status();
  const ModelConfig& config = (*folder)->config();
  if (absl::Status s = config.CheckMoeLayer(options.layer); !s.ok()) return s;
  absl::StatusOr<SafetensorsFile> input = SafetensorsFile::Open(options.input);
  if (!input.ok()) return input.status();
  absl::StatusOr<const TensorView*> hidden = ReadHiddenStates(*input, config.hidden_size);
  if (!hidden.ok()) return hidden.status();
  const int64_t tokens = (*hidden)->shape[0];
  bool from_router = false;
  absl::StatusOr<TokenRouting> routing =
      RouteInput(**folder, options.layer, *input, tokens, from_router);
  if (!routing.ok()) return routing.status();

  LayerLoadOptions load;
  load.format = options.format;
  load.group_size = options.group_size;
  load.threads = options.threads;
  absl::StatusOr<ModelLayer> layer = LoadModelLayer(**folder, options.layer, load);
  if (!layer.ok()) return layer.status();
  moe::MoeConfig moe_config;
  moe_config.expert_num = static_cast<int64_t>(layer->experts.size());
  moe_config.num_experts_per_tok = routing->k + static_cast<int>(layer->shared_slots);
  moe_config.hidden_size = layer->hidden_size;
  moe_config.intermediate_size = layer->intermediate_size;
  moe_config.max_len = tokens;
  moe_config.weight_format = layer->format;
  moe_config.group_size = layer->group_size;
  moe_config.path = options.path;
  moe_config.num_threads = options.threads;
  absl::StatusOr<std::unique_ptr<moe::MoeLayer>> moe_layer =
      moe::MoeLayer::Create(moe_config, layer->experts);
  if (!moe_layer.ok()) return moe_layer.status();
  const double load_seconds = SecondsSince(start);

  const TokenRouting all =
      WithSharedExpert(*routing, tokens, layer->routed_experts, layer->shared_slots);
  const Clock::time_point forward_start = Clock::now();
  absl::StatusOr<std::vector<float>> output = ForwardTensor(**moe_layer, **hidden, all, options.output);
  if (!output.ok()) return output.status();
  const double forward_seconds = SecondsSince(forward_start);

  SafetensorsWriter writer;
  const std::vector<int64_t> routing_shape = {tokens, routing->k};
  absl::Status s = writer.AddF32("output", {tokens, layer->hidden_size}, *output);
  if (s.ok()) {
    s = writer.Add("topk_ids", Dtype::kI64, routing_shape,
                   absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(routing->ids.data()),
                                       routing->ids.size() * sizeof(int64_t)));
  }
  if (s.ok()) s = writer.AddF32("topk_weights", routing_shape, routing->weights);
  if (s.ok()) s = writer.Write(options.output);
  if (!s.ok()) return s;

  const moe::MoeLayer::KernelsUsed used = (*moe_layer)->last_kernels_used();
  return absl::StrFormat(
      "%s (%s) layer %d: %d experts from %s as %s, top-%d (%s)%s, %d tokens, %s path on %s, "
      "%d threads: loaded in %.2f s (%d shards opened), forward in %.2f ms",
      config.architecture, config.model_type, options.layer, layer->routed_experts,
      layer->storage, TraitsOf(layer->format).name, routing->k,
      from_router ? "the layer's router" : "topk_ids from the input",
      layer->shared_slots > 0
          ? absl::StrFormat(" + %d shared expert slice(s) of weight 1", layer->shared_slots)
          : std::string(),
      tokens, (*moe_layer)->KernelsLabel(used, /*paths=*/true), (*moe_layer)->KernelsLabel(used),
      options.threads, load_seconds, (*folder)->shards_opened(), 1e3 * forward_seconds);
}

}  // namespace fp4moe::io
