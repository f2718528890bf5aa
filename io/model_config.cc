#include "io/model_config.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace fp4moe::io {
namespace {

using nlohmann::json;

// Reads fields of one JSON object, naming config.json and the field in every error. A field
// that is null counts as absent, as Hugging Face's config classes treat it. The first error is
// kept in status(); reads after it return their fallback (or 0).
class Fields {
 public:
  Fields(const json& object, const std::string& path) : object_(object), path_(path) {}

  const absl::Status& status() const { return status_; }

  const json* Find(std::string_view key) const {
    const auto it = object_.find(std::string(key));
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }

  absl::Status Error(std::string_view key, std::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: field \"%s\" %s", path_, key, message));
  }

  // An integer of at least `min`; `fallback` where absent (nullopt: required).
  int64_t Integer(std::string_view key, int64_t min,
                  std::optional<int64_t> fallback = std::nullopt) {
    const json* v = Find(key);
    if (v == nullptr) return Missing(key, fallback);
    if (!v->is_number_integer() ||
        (v->is_number_unsigned() &&
         v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) ||
        v->get<int64_t>() < min) {
      Fail(key, absl::StrFormat("must be an integer of at least %d, got %s", min, v->dump()));
      return fallback.value_or(0);
    }
    return v->get<int64_t>();
  }

  bool Bool(std::string_view key, std::optional<bool> fallback) {
    const json* v = Find(key);
    if (v == nullptr) return Missing(key, fallback);
    if (!v->is_boolean()) {
      Fail(key, absl::StrFormat("must be true or false, got %s", v->dump()));
      return false;
    }
    return v->get<bool>();
  }

  double PositiveNumber(std::string_view key) {
    const json* v = Find(key);
    if (v == nullptr) return Missing<double>(key, std::nullopt);
    if (!v->is_number() || !std::isfinite(v->get<double>()) || v->get<double>() <= 0) {
      Fail(key, absl::StrFormat("must be a positive number, got %s", v->dump()));
      return 0;
    }
    return v->get<double>();
  }

  // A string field that, where present, must be `allowed`.
  void StringIs(std::string_view key, std::string_view allowed) {
    const json* v = Find(key);
    if (v != nullptr && (!v->is_string() || v->get<std::string>() != allowed)) {
      Fail(key, absl::StrFormat("is %s; only \"%s\" is supported", v->dump(), allowed));
    }
  }

  void Fail(std::string_view key, std::string_view message) {
    if (status_.ok()) status_ = Error(key, message);
  }

 private:
  template <typename T>
  T Missing(std::string_view key, std::optional<T> fallback) {
    if (!fallback) Fail(key, "is missing");
    return fallback.value_or(T{});
  }

  const json& object_;
  const std::string& path_;
  absl::Status status_;
};

absl::StatusOr<ModelFamily> FamilyOf(const json& config, const std::string& path,
                                     std::string& architecture, std::string& model_type) {
  const auto type_it = config.find("model_type");
  if (type_it != config.end() && type_it->is_string()) model_type = type_it->get<std::string>();
  const auto archs = config.find("architectures");
  if (archs != config.end() && archs->is_array() && !archs->empty() &&
      (*archs)[0].is_string()) {
    architecture = (*archs)[0].get<std::string>();
  } else {
    architecture = model_type;
  }
  if (architecture == "DeepseekV3ForCausalLM" || architecture == "deepseek_v3" ||
      architecture == "kimi_k2") {
    return ModelFamily::kDeepseekV3;
  }
  if (architecture == "Qwen3MoeForCausalLM" || architecture == "qwen3_moe") {
    return ModelFamily::kQwen3Moe;
  }
  if (architecture == "MixtralForCausalLM" || architecture == "mixtral") {
    return ModelFamily::kMixtral;
  }
  if (architecture == "GptOssForCausalLM" || architecture == "gpt_oss") {
    return ModelFamily::kGptOss;
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s: architecture \"%s\" is not one fp4moe runs (DeepseekV3ForCausalLM, as DeepSeek-V3 "
      "and Kimi-K2 name theirs, Qwen3MoeForCausalLM, MixtralForCausalLM, GptOssForCausalLM)",
      path, architecture.empty() ? "(no architectures or model_type)" : architecture));
}

void ReadDeepseekFields(Fields& f, ModelConfig& c) {
  c.num_experts = f.Integer("n_routed_experts", 1);
  c.intermediate_size = f.Integer("moe_intermediate_size", 1);
  c.first_dense_layers = f.Integer("first_k_dense_replace", 0, 0);
  c.moe_layer_freq = f.Integer("moe_layer_freq", 1, 1);
  c.shared_experts = f.Integer("n_shared_experts", 0, 0);
  c.groups = f.Integer("n_group", 1);
  c.chosen_groups = f.Integer("topk_group", 1);
  c.norm_topk_prob = f.Bool("norm_topk_prob", std::nullopt);
  c.routed_scaling_factor = f.PositiveNumber("routed_scaling_factor");
  // DeepSeek-V2's softmax and greedy routers have the same fields and another formula.
  f.StringIs("scoring_func", "sigmoid");
  f.StringIs("topk_method", "noaux_tc");
}

void ReadQwen3Fields(Fields& f, ModelConfig& c) {
  c.num_experts = f.Integer("num_experts", 1);
  c.intermediate_size = f.Integer("moe_intermediate_size", 1);
  c.norm_topk_prob = f.Bool("norm_topk_prob", false);
  c.decoder_sparse_step = f.Integer("decoder_sparse_step", 1, 1);
  if (const json* layers = f.Find("mlp_only_layers")) {
    if (!layers->is_array() || !std::all_of(layers->begin(), layers->end(), [](const json& l) {
          return l.is_number_unsigned() && l.get<uint64_t>() < (uint64_t{1} << 62);
        })) {
      f.Fail("mlp_only_layers",
             absl::StrFormat("must be a list of layer numbers, got %s", layers->dump()));
      return;
    }
    for (const json& l : *layers) c.mlp_only_layers.push_back(l.get<int64_t>());
  }
}

absl::Status ReadQuantizationConfig(const json& config, const std::string& path,
                                    ModelConfig& c) {
  const auto q = config.find("quantization_config");
  if (q == config.end() || !q->is_object()) return absl::OkStatus();
  const auto method = q->find("quant_method");
  if (method == q->end() || *method != "fp8") return absl::OkStatus();
  const auto block = q->find("weight_block_size");
  if (block == q->end()) return absl::OkStatus();
  if (!block->is_array() || block->size() != 2 || !(*block)[0].is_number_unsigned() ||
      !(*block)[1].is_number_unsigned() || (*block)[0].get<uint64_t>() == 0 ||
      (*block)[1].get<uint64_t>() == 0 || (*block)[0].get<uint64_t>() > (1u << 30) ||
      (*block)[1].get<uint64_t>() > (1u << 30)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: quantization_config.weight_block_size is %s, expected two positive integers",
        path, block->dump()));
  }
  c.fp8_block = {(*block)[0].get<int64_t>(), (*block)[1].get<int64_t>()};
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view text, const std::string& path) {
  json config;
  try {
    config = json::parse(text);
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: not valid JSON: %s", path, e.what()));
  }
  if (!config.is_object()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: not a JSON object", path));
  }
  ModelConfig c;
  c.path = path;
  absl::StatusOr<ModelFamily> family = FamilyOf(config, path, c.architecture, c.model_type);
  if (!family.ok()) return family.status();
  c.family = *family;
  Fields f(config, path);
  c.hidden_size = f.Integer("hidden_size", 1);
  c.num_layers = f.Integer("num_hidden_layers", 1);
  // gpt-oss's config.json has both names; its original release only experts_per_token.
  const int64_t top_k =
      c.family == ModelFamily::kGptOss && f.Find("num_experts_per_tok") == nullptr
          ? f.Integer("experts_per_token", 1)
          : f.Integer("num_experts_per_tok", 1);
  switch (c.family) {
    case ModelFamily::kDeepseekV3:
      ReadDeepseekFields(f, c);
      break;
    case ModelFamily::kQwen3Moe:
      ReadQwen3Fields(f, c);
      break;
    case ModelFamily::kMixtral:
      c.num_experts = f.Integer("num_local_experts", 1);
      c.intermediate_size = f.Integer("intermediate_size", 1);
      break;
    case ModelFamily::kGptOss:
      c.num_experts = f.Integer("num_local_experts", 1);
      c.intermediate_size = f.Integer("intermediate_size", 1);
      if (f.Find("swiglu_limit") != nullptr) c.swiglu_limit = f.PositiveNumber("swiglu_limit");
      break;
  }
  if (f.status().ok() && top_k > c.num_experts) {
    f.Fail("num_experts_per_tok", absl::StrFormat("is %d, more than the %d routed experts",
                                                  top_k, c.num_experts));
  }
  if (!f.status().ok()) return f.status();
  c.top_k = static_cast<int>(top_k);
  if (absl::Status s = ReadQuantizationConfig(config, path, c); !s.ok()) return s;
  if (absl::Status s = c.Router().Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: %s", path, s.message()));
  }
  return c;
}

absl::Status ModelConfig::CheckMoeLayer(int64_t layer) const {
  const auto dense = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: layer %d is a dense MLP layer without routed experts (%s)", path, layer, why));
  };
  if (layer < 0 || layer >= num_layers) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: layer %d is outside the model's layers 0 to %d (num_hidden_layers = %d)", path,
        layer, num_layers - 1, num_layers));
  }
  if (family == ModelFamily::kDeepseekV3) {
    if (layer < first_dense_layers) {
      return dense(absl::StrFormat("first_k_dense_replace = %d: layers 0 to %d are dense",
                                   first_dense_layers, first_dense_layers - 1));
    }
    if (layer % moe_layer_freq != 0) {
      return dense(absl::StrFormat(
          "moe_layer_freq = %d: only layers that are multiples of it have experts",
          moe_layer_freq));
    }
  }
  if (family == ModelFamily::kQwen3Moe) {
    if (std::find(mlp_only_layers.begin(), mlp_only_layers.end(), layer) !=
        mlp_only_layers.end()) {
      return dense(absl::StrFormat("listed in mlp_only_layers [%s]",
                                   absl::StrJoin(mlp_only_layers, ", ")));
    }
    if ((layer + 1) % decoder_sparse_step != 0) {
      return dense(absl::StrFormat(
          "decoder_sparse_step = %d: only layers N with N + 1 a multiple of it have experts",
          decoder_sparse_step));
    }
  }
  return absl::OkStatus();
}

std::string_view ModelConfig::ProjectionName(int projection) const {
  static constexpr std::string_view kHuggingFace[] = {"gate_proj", "up_proj", "down_proj"};
  static constexpr std::string_view kMixtral[] = {"w1", "w3", "w2"};
  return family == ModelFamily::kMixtral ? kMixtral[projection] : kHuggingFace[projection];
}

std::string ModelConfig::ExpertName(int64_t layer, int64_t expert, int projection) const {
  const char* block = family == ModelFamily::kMixtral ? "block_sparse_moe" : "mlp";
  return absl::StrFormat("model.layers.%d.%s.experts.%d.%s", layer, block, expert,
                         ProjectionName(projection));
}

std::string ModelConfig::SharedExpertName(int64_t layer, int projection) const {
  return absl::StrFormat("model.layers.%d.mlp.shared_experts.%s", layer,
                         ProjectionName(projection));
}

std::string ModelConfig::RouterName(int64_t layer) const {
  if (family == ModelFamily::kGptOss) return absl::StrFormat("model.layers.%d.mlp.router", layer);
  const char* block = family == ModelFamily::kMixtral ? "block_sparse_moe" : "mlp";
  return absl::StrFormat("model.layers.%d.%s.gate", layer, block);
}

std::string ModelConfig::FusedExpertsName(int64_t layer) const {
  return absl::StrFormat("model.layers.%d.mlp.experts", layer);
}

moe::RouterConfig ModelConfig::Router() const {
  moe::RouterConfig r;
  r.num_experts = num_experts;
  r.top_k = top_k;
  r.norm_topk_prob = norm_topk_prob;
  switch (family) {
    case ModelFamily::kDeepseekV3:
      r.scoring = moe::RouterScoring::kSigmoidGrouped;
      r.groups = groups;
      r.chosen_groups = chosen_groups;
      r.scaling = static_cast<float>(routed_scaling_factor);
      break;
    case ModelFamily::kQwen3Moe:
      r.scoring = moe::RouterScoring::kSoftmaxTopK;
      break;
    case ModelFamily::kMixtral:
      r.scoring = moe::RouterScoring::kTopKSoftmax;
      break;
    case ModelFamily::kGptOss:
      r.scoring = moe::RouterScoring::kBiasedTopKSoftmax;
      break;
  }
  return r;
}

}  // namespace fp4moe::io
