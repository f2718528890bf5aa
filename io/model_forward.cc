#include "io/model_forward.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_format.h"
#include "moe/moe_config.h"
#include "moe/routing.h"

namespace fp4moe::io {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
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

int ThreadsOrAllCores(int threads) {
  if (threads != 0) return threads;
  return static_cast<int>(
      std::clamp(std::thread::hardware_concurrency(), 1u, unsigned{moe::kMaxThreads}));
}

absl::StatusOr<std::unique_ptr<ModelMoeLayer>> ModelMoeLayer::Open(
    const std::string& dir, int64_t layer, const LayerRunOptions& options) {
  absl::StatusOr<std::unique_ptr<ModelFolder>> folder = ModelFolder::Open(dir);
  if (!folder.ok()) return folder.status();
  if (absl::Status s = (*folder)->config().CheckMoeLayer(layer); !s.ok()) return s;
  std::unique_ptr<ModelMoeLayer> opened(new ModelMoeLayer());
  opened->folder_ = *std::move(folder);
  opened->index_ = layer;
  opened->options_ = options;
  return opened;
}

absl::Status ModelMoeLayer::Load() {
  if (loaded_) return absl::OkStatus();
  LayerLoadOptions load;
  load.format = options_.format;
  load.group_size = options_.group_size;
  load.threads = options_.threads;
  absl::StatusOr<ModelLayer> layer = LoadModelLayer(*folder_, index_, load);
  if (!layer.ok()) return layer.status();
  layer_ = *std::move(layer);
  // The operator packs the experts into its own buffers, sized for one token of the model's
  // routing at first and grown by Reserve as calls need: the experts as loaded are then freed,
  // so that the layer holds its weights once.
  moe::MoeConfig moe_config;
  moe_config.expert_num = static_cast<int64_t>(layer_.experts.size());
  moe_config.num_experts_per_tok = config().top_k + static_cast<int>(layer_.shared_slots);
  moe_config.hidden_size = layer_.hidden_size;
  moe_config.intermediate_size = layer_.intermediate_size;
  moe_config.max_len = 1;
  moe_config.weight_format = layer_.format;
  moe_config.group_size = layer_.group_size;
  moe_config.path = options_.path;
  moe_config.num_threads = options_.threads;
  moe_config.activation = layer_.activation;
  moe_config.swiglu_limit = layer_.swiglu_limit;
  absl::StatusOr<std::unique_ptr<moe::MoeLayer>> created =
      moe::MoeLayer::Create(moe_config, layer_.experts, layer_.biases);
  if (!created.ok()) return created.status();
  operator_ = *std::move(created);
  std::vector<moe::ExpertQuantizedWeights>().swap(layer_.experts);
  std::vector<moe::ExpertBiases>().swap(layer_.biases);
  // The loading threads' malloc arenas would keep what they freed (some 40% of the weights
  // again in RSS, measured on a Qwen3-like layer): glibc gives it back only when asked.
  malloc_trim(0);
  loaded_ = true;
  return absl::OkStatus();
}

absl::Status ModelMoeLayer::CheckHidden(const TensorView& hidden, std::string_view where) const {
  const int64_t hidden_size = config().hidden_size;
  if ((hidden.dtype != Dtype::kF32 && hidden.dtype != Dtype::kBf16) || hidden.shape.size() != 2 ||
      hidden.shape[0] < 1 || hidden.shape[1] != hidden_size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: '%s' is %s %s, expected F32 or BF16 [T >= 1, %d] (hidden_size of %s)", where,
        hidden.name, DtypeName(hidden.dtype), ShapeString(hidden.shape), hidden_size,
        folder_->dir()));
  }
  return absl::OkStatus();
}

absl::Status ModelMoeLayer::CheckRouting(int64_t tokens, const TokenRouting& routing,
                                         std::string_view where) const {
  const int64_t experts = config().num_experts;
  if (routing.k < 1 || static_cast<int64_t>(routing.ids.size()) != tokens * routing.k ||
      routing.weights.size() != routing.ids.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: topk_ids and topk_weights hold %d and %d values, expected [T = %d, k >= 1] each",
        where, routing.ids.size(), routing.weights.size(), tokens));
  }
  if (absl::Status s = moe::ValidateRouting(tokens, routing.k, experts, routing.ids.data(),
                                            routing.weights.data());
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %s (topk_ids name the %d routed experts)", where, s.message(), experts));
  }
  return absl::OkStatus();
}

absl::StatusOr<TokenRouting> ModelMoeLayer::Route(const TensorView& hidden,
                                                  std::string_view where) {
  if (!router_) {
    absl::StatusOr<LayerRouter> router = LoadRouter(*folder_, index_);
    if (!router.ok()) return router.status();
    router_ = *std::move(router);
  }
  absl::StatusOr<RowMatrixXf> x = MatrixOf(hidden, where);
  if (!x.ok()) return x.status();
  const int64_t tokens = hidden.shape[0];
  TokenRouting routing;
  routing.k = config().top_k;
  routing.ids.resize(tokens * routing.k);
  routing.weights.resize(tokens * routing.k);
  if (absl::Status s = RouteTokens(config(), *router_, *x, absl::MakeSpan(routing.ids),
                                   absl::MakeSpan(routing.weights));
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: %s", where, s.message()));
  }
  return routing;
}

absl::StatusOr<LayerForward> ModelMoeLayer::Forward(const TensorView& hidden,
                                                    std::optional<TokenRouting> routing,
                                                    std::string_view where,
                                                    std::string_view output_label) {
  if (absl::Status s = CheckHidden(hidden, where); !s.ok()) return s;
  const int64_t tokens = hidden.shape[0];
  LayerForward result;
  result.from_router = !routing.has_value();
  if (routing) {
    if (absl::Status s = CheckRouting(tokens, *routing, where); !s.ok()) return s;
    result.routing = *std::move(routing);
  } else {
    absl::StatusOr<TokenRouting> routed = Route(hidden, where);
    if (!routed.ok()) return routed.status();
    result.routing = *std::move(routed);
  }
  if (absl::Status s = Load(); !s.ok()) return s;
  const TokenRouting all =
      WithSharedExpert(result.routing, tokens, layer_.routed_experts, layer_.shared_slots);
  if (absl::Status s = operator_->Reserve(tokens, all.k); !s.ok()) return s;
  const Clock::time_point start = Clock::now();
  absl::StatusOr<std::vector<float>> output =
      ForwardTensor(*operator_, hidden, all, output_label);
  if (!output.ok()) return output.status();
  result.seconds = SecondsSince(start);
  result.output = *std::move(output);
  const moe::MoeLayer::KernelsUsed used = operator_->last_kernels_used();
  result.kernels =
      absl::StrFormat("%s path on %s", operator_->KernelsLabel(used, /*paths=*/true),
                      operator_->KernelsLabel(used));
  return result;
}

absl::StatusOr<std::string> RunModelForward(const ForwardOptions& options) {
  const Clock::time_point start = Clock::now();
  LayerRunOptions run;
  run.format = options.format;
  run.group_size = options.group_size;
  run.path = options.path;
  run.threads = options.threads;
  absl::StatusOr<std::unique_ptr<ModelMoeLayer>> layer =
      ModelMoeLayer::Open(options.model, options.layer, run);
  if (!layer.ok()) return layer.status();
  const ModelConfig& config = (*layer)->config();
  // The input is checked before the experts are read: its errors come at once.
  absl::StatusOr<SafetensorsFile> input = SafetensorsFile::Open(options.input);
  if (!input.ok()) return input.status();
  absl::StatusOr<const TensorView*> hidden = ReadHiddenStates(*input, config.hidden_size);
  if (!hidden.ok()) return hidden.status();
  const int64_t tokens = (*hidden)->shape[0];
  std::optional<TokenRouting> routing;
  if (input->contains("topk_ids") || input->contains("topk_weights")) {
    absl::StatusOr<TokenRouting> given = ReadTokenRouting(*input, tokens);
    if (!given.ok()) return given.status();
    if (absl::Status s = (*layer)->CheckRouting(tokens, *given, input->path()); !s.ok()) return s;
    routing = *std::move(given);
  }
  if (absl::Status s = (*layer)->Load(); !s.ok()) return s;
  const double load_seconds = SecondsSince(start);

  absl::StatusOr<LayerForward> result =
      (*layer)->Forward(**hidden, std::move(routing), input->path(), options.output);
  if (!result.ok()) return result.status();

  SafetensorsWriter writer;
  const ModelLayer& loaded = (*layer)->layer();
  const TokenRouting& used = result->routing;
  const std::vector<int64_t> routing_shape = {tokens, used.k};
  absl::Status s = writer.AddF32("output", {tokens, loaded.hidden_size}, result->output);
  if (s.ok()) {
    s = writer.Add("topk_ids", Dtype::kI64, routing_shape,
                   absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(used.ids.data()),
                                       used.ids.size() * sizeof(int64_t)));
  }
  if (s.ok()) s = writer.AddF32("topk_weights", routing_shape, used.weights);
  if (s.ok()) s = writer.Write(options.output);
  if (!s.ok()) return s;

  return absl::StrFormat(
      "%s (%s) layer %d: %d experts from %s as %s, top-%d (%s)%s, %d tokens, %s, "
      "%d threads: loaded in %.2f s (%d shards opened), forward in %.2f ms",
      config.architecture, config.model_type, options.layer, loaded.routed_experts,
      loaded.storage, TraitsOf(loaded.format).name, used.k,
      result->from_router ? "the layer's router" : "topk_ids from the input",
      loaded.shared_slots > 0
          ? absl::StrFormat(" + %d shared expert slice(s) of weight 1", loaded.shared_slots)
          : std::string(),
      tokens, result->kernels, options.threads, load_seconds, (*layer)->folder().shards_opened(),
      1e3 * result->seconds);
}

}  // namespace fp4moe::io
