#include "io/moe_checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "io/checkpoint.h"
#include "io/sizes.h"
#include "moe/moe.h"

namespace fp4moe::io {
namespace {

constexpr std::string_view kProjections[] = {"gate_proj", "up_proj", "down_proj"};

std::string_view StorageName(std::optional<WeightFormat> format) {
  return format ? TraitsOf(*format).name : "float";
}

// The expert indices e of names `<prefix>.<e>.<projection>.*`.
std::set<int64_t> ExpertIndices(const SafetensorsFile& file, std::string_view prefix) {
  const std::string start = absl::StrFormat("%s.", prefix);
  std::set<int64_t> experts;
  for (const std::string& name : file.names()) {
    if (!absl::StartsWith(name, start)) continue;
    const std::string_view rest = std::string_view(name).substr(start.size());
    const size_t dot = rest.find('.');
    if (dot == std::string_view::npos || dot == 0) continue;
    const std::string_view digits = rest.substr(0, dot);
    int64_t expert = 0;
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        !absl::SimpleAtoi(absl::string_view(digits.data(), digits.size()), &expert)) {
      continue;
    }
    const std::string tail(rest.substr(dot + 1));
    for (std::string_view projection : kProjections) {
      if (absl::StartsWith(tail, absl::StrFormat("%s.", projection))) experts.insert(expert);
    }
  }
  return experts;
}

std::string Label(const SafetensorsFile& file, const TensorView& tensor) {
  return absl::StrFormat("%s: tensor '%s'", file.path(), tensor.name);
}

// A copy of an F32 tensor's values.
absl::Status ReadFloats(const SafetensorsFile& file, const TensorView& tensor,
                        std::vector<float>& values) {
  if (absl::Status s = AllocateChecked(Label(file, tensor), tensor.numel(), sizeof(float),
                                       [&] { values.resize(tensor.numel()); });
      !s.ok()) {
    return s;
  }
  if (!values.empty()) std::memcpy(values.data(), tensor.bytes.data(), tensor.bytes.size());
  return absl::OkStatus();
}

std::optional<int64_t> FirstNonFinite(absl::Span<const float> values) {
  const auto it = std::find_if(values.begin(), values.end(),
                               [](float v) { return !std::isfinite(v); });
  if (it == values.end()) return std::nullopt;
  return it - values.begin();
}

// Runs `layer` on hidden_states of element type T (float for F32, uint16_t for BF16): in place
// where aligned for T (a numpy array), else on an aligned copy (a safetensors file's data need
// not be).
template <typename T>
absl::Status ForwardAs(moe::MoeLayer& layer, const TensorView& hidden,
                         const TokenRouting& routing, const std::string& label, float* output) {
  if (reinterpret_cast<uintptr_t>(hidden.bytes.data()) % alignof(T) == 0) {
    return layer.Forward(hidden.shape[0], routing.k, routing.ids.data(), routing.weights.data(),
                         reinterpret_cast<const T*>(hidden.bytes.data()), output);
  }
  std::vector<T> x;
  if (absl::Status s =
          AllocateChecked(label, hidden.numel(), sizeof(T), [&] { x.resize(hidden.numel()); });
      !s.ok()) {
    return s;
  }
  if (!x.empty()) std::memcpy(x.data(), hidden.bytes.data(), hidden.bytes.size());
  return layer.Forward(hidden.shape[0], routing.k, routing.ids.data(), routing.weights.data(),
                       x.data(), output);
}

}  // namespace

absl::StatusOr<LoadedExperts> LoadExperts(const SafetensorsFile& file, std::string_view prefix) {
  const std::set<int64_t> indices = ExpertIndices(file, prefix);
  if (indices.empty()) {
    return absl::NotFoundError(absl::StrFormat(
        "%s: no experts '%s.<e>.{gate,up,down}_proj.*'", file.path(), prefix));
  }
  // Experts 0 .. count - 1, each present: the first missing one is below the count of indices
  // (no arithmetic on the largest index, which a name may make 2^63 - 1).
  const int64_t count = static_cast<int64_t>(indices.size());
  for (int64_t e = 0; e < count; ++e) {
    if (indices.count(e) == 0) {
      return absl::NotFoundError(absl::StrFormat(
          "%s: expert %d of '%s' is missing (experts up to %d are present)", file.path(), e,
          prefix, *indices.rbegin()));
    }
  }
  LoadedExperts loaded;
  for (int64_t e = 0; e < count; ++e) {
    RowMatrixXf floats[3];
    moe::QuantizedTensor quantized[3];
    for (int p = 0; p < 3; ++p) {
      const std::string name = absl::StrFormat("%s.%d.%s", prefix, e, kProjections[p]);
      absl::StatusOr<std::optional<WeightFormat>> format = StoredFormat(file, name);
      if (!format.ok()) return format.status();
      if (e == 0 && p == 0) {
        loaded.format = *format;
      } else if (*format != loaded.format) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: expert %d %s is stored as %s, but expert 0 gate_proj as %s", file.path(), e,
            kProjections[p], StorageName(*format), StorageName(loaded.format)));
      }
      std::pair<int64_t, int64_t> shape;
      if (loaded.format) {
        absl::StatusOr<moe::QuantizedTensor> q = ReadQuantized(file, name);
        if (!q.ok()) return q.status();
        quantized[p] = *std::move(q);
        shape = QuantizedShape(quantized[p]);
        if (const auto* int4 = std::get_if<Int4K2Tensor>(&quantized[p])) {
          if (e == 0 && p == 0) loaded.group_size = int4->group_size;
          if (int4->group_size != loaded.group_size) {
            return absl::InvalidArgumentError(absl::StrFormat(
                "%s: expert %d %s has group size %d, but expert 0 gate_proj %d", file.path(),
                e, kProjections[p], int4->group_size, loaded.group_size));
          }
        }
      } else {
        absl::StatusOr<RowMatrixXf> m = file.ReadMatrix(name + ".weight");
        if (!m.ok()) return m.status();
        floats[p] = *std::move(m);
        shape = {floats[p].rows(), floats[p].cols()};
      }
      if (e == 0 && p == 0) {
        loaded.intermediate_size = shape.first;
        loaded.hidden_size = shape.second;
      }
      const std::pair<int64_t, int64_t> expected =
          p < 2 ? std::make_pair(loaded.intermediate_size, loaded.hidden_size)
                : std::make_pair(loaded.hidden_size, loaded.intermediate_size);
      if (shape != expected) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: expert %d %s is [%d, %d], expected [%d, %d] (gate_proj and up_proj [I, H], "
            "down_proj [H, I], with I = %d and H = %d from expert 0 gate_proj)",
            file.path(), e, kProjections[p], shape.first, shape.second, expected.first,
            expected.second, loaded.intermediate_size, loaded.hidden_size));
      }
    }
    if (loaded.format) {
      loaded.quantized_experts.push_back(
          {std::move(quantized[0]), std::move(quantized[1]), std::move(quantized[2])});
    } else {
      loaded.float_experts.push_back(
          {std::move(floats[0]), std::move(floats[1]), std::move(floats[2])});
    }
  }
  return loaded;
}

absl::StatusOr<const TensorView*> ReadHiddenStates(const SafetensorsFile& input,
                                                   int64_t hidden_size) {
  absl::StatusOr<const TensorView*> hidden = input.Get("hidden_states");
  if (!hidden.ok()) return hidden.status();
  const TensorView& h = **hidden;
  if ((h.dtype != Dtype::kF32 && h.dtype != Dtype::kBf16) || h.shape.size() != 2 ||
      h.shape[1] != hidden_size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: tensor 'hidden_states' is %s %s, expected F32 or BF16 [T, %d] (H of the experts)",
        input.path(), DtypeName(h.dtype), ShapeString(h.shape), hidden_size));
  }
  return hidden;
}

absl::StatusOr<TokenRouting> ReadTokenRouting(const SafetensorsFile& input, int64_t tokens) {
  absl::StatusOr<const TensorView*> ids_view = input.Get("topk_ids");
  if (!ids_view.ok()) return ids_view.status();
  if ((*ids_view)->shape.size() != 2 || (*ids_view)->shape[0] != tokens ||
      (*ids_view)->shape[1] < 1 || (*ids_view)->shape[1] > std::numeric_limits<int>::max()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: tensor 'topk_ids' is %s, expected [T = %d, k]", input.path(),
                        ShapeString((*ids_view)->shape), tokens));
  }
  TokenRouting routing;
  routing.k = static_cast<int>((*ids_view)->shape[1]);
  absl::StatusOr<std::vector<int64_t>> ids = input.ReadIntegers("topk_ids");
  if (!ids.ok()) return ids.status();
  routing.ids = *std::move(ids);
  absl::StatusOr<const TensorView*> weights =
      input.Get("topk_weights", Dtype::kF32, {tokens, routing.k});
  if (!weights.ok()) return weights.status();
  if (absl::Status s = ReadFloats(input, **weights, routing.weights); !s.ok()) return s;
  if (const std::optional<int64_t> i = FirstNonFinite(routing.weights)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: tensor 'topk_weights' [token %d, slot %d] = %g is not finite", input.path(),
        *i / routing.k, *i % routing.k, routing.weights[*i]));
  }
  return routing;
}

absl::StatusOr<std::vector<float>> ForwardTensor(moe::MoeLayer& layer, const TensorView& hidden,
                                                 const TokenRouting& routing,
                                                 std::string_view output_path) {
  const int64_t hidden_size = layer.config().hidden_size;
  std::vector<float> output;
  const std::string output_label = absl::StrFormat("%s: tensor 'output'", output_path);
  const std::string input_label = absl::StrFormat("a copy of tensor '%s'", hidden.name);
  if (absl::Status s = AllocateChecked(output_label, hidden.numel(), sizeof(float),
                                       [&] { output.resize(hidden.numel()); });
      !s.ok()) {
    return s;
  }
  const absl::Status forward =
      hidden.dtype == Dtype::kF32
          ? ForwardAs<float>(layer, hidden, routing, input_label, output.data())
          : ForwardAs<uint16_t>(layer, hidden, routing, input_label, output.data());
  if (!forward.ok()) return forward;
  // Finite inputs (Forward checks hidden_states; the weights and topk_weights are checked when
  // read) can still overflow float, through large scales or routing weights.
  if (const std::optional<int64_t> i = FirstNonFinite(output)) {
    const int64_t token = *i / hidden_size;
    std::vector<std::string> routes;
    for (int j = 0; j < routing.k; ++j) {
      routes.push_back(absl::StrFormat("expert %d with weight %g",
                                       routing.ids[token * routing.k + j],
                                       routing.weights[token * routing.k + j]));
    }
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s [token %d, column %d] = %g is not finite although every input is: the experts' "
        "weights or scales, or topk_weights, overflow float (token %d goes to %s); nothing "
        "written",
        output_label, token, *i % hidden_size, output[*i], token, absl::StrJoin(routes, ", ")));
  }
  return output;
}

absl::Status RunForward(const ForwardOptions& options) {
  absl::StatusOr<SafetensorsFile> weights = SafetensorsFile::Open(options.weights);
  if (!weights.ok()) return weights.status();
  absl::StatusOr<LoadedExperts> experts = LoadExperts(*weights, options.prefix);
  if (!experts.ok()) return experts.status();
  absl::StatusOr<SafetensorsFile> input = SafetensorsFile::Open(options.input);
  if (!input.ok()) return input.status();
  absl::StatusOr<const TensorView*> hidden = ReadHiddenStates(*input, experts->hidden_size);
  if (!hidden.ok()) return hidden.status();
  const int64_t tokens = (*hidden)->shape[0];
  absl::StatusOr<TokenRouting> routing = ReadTokenRouting(*input, tokens);
  if (!routing.ok()) return routing.status();
  if (routing->k > experts->count()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: tensor 'topk_ids' routes each token to k = %d experts, more than the %d there are",
        input->path(), routing->k, experts->count()));
  }

  moe::MoeConfig config;
  config.expert_num = experts->count();
  config.num_experts_per_tok = routing->k;
  config.hidden_size = experts->hidden_size;
  config.intermediate_size = experts->intermediate_size;
  config.max_len = tokens;
  config.path = options.path;
  config.num_threads = options.threads;
  if (experts->format) {
    if (options.format && *options.format != *experts->format) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: experts are stored as %s, but --format asks for %s", weights->path(),
          StorageName(experts->format), StorageName(options.format)));
    }
    config.weight_format = *experts->format;
    if (*experts->format == WeightFormat::kInt4K2) config.group_size = experts->group_size;
  } else {
    config.weight_format = options.format.value_or(WeightFormat::kNvfp4);
    config.group_size = options.group_size;
  }
  absl::StatusOr<std::unique_ptr<moe::MoeLayer>> layer =
      experts->format ? moe::MoeLayer::Create(config, experts->quantized_experts)
                      : moe::MoeLayer::Create(config, experts->float_experts);
  if (!layer.ok()) return layer.status();
  absl::StatusOr<std::vector<float>> output =
      ForwardTensor(**layer, **hidden, *routing, options.output);
  if (!output.ok()) {
    return absl::Status(output.status().code(),
                        absl::StrFormat("experts '%s' of %s on %s: %s", options.prefix,
                                        weights->path(), input->path(),
                                        output.status().message()));
  }
  SafetensorsWriter writer;
  if (absl::Status s = writer.AddF32("output", {tokens, experts->hidden_size}, *output);
      !s.ok()) {
    return s;
  }
  return writer.Write(options.output);
}

}  // namespace fp4moe::io
