#include "io/moe_checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstring>
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

std::pair<int64_t, int64_t> ShapeOf(const moe::QuantizedTensor& t) {
  return std::visit([](const auto& q) { return std::make_pair(q.rows, q.cols); }, t);
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
        shape = ShapeOf(quantized[p]);
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

absl::Status RunForward(const ForwardOptions& options) {
  absl::StatusOr<SafetensorsFile> weights = SafetensorsFile::Open(options.weights);
  if (!weights.ok()) return weights.status();
  absl::StatusOr<LoadedExperts> experts = LoadExperts(*weights, options.prefix);
  if (!experts.ok()) return experts.status();
  absl::StatusOr<SafetensorsFile> input = SafetensorsFile::Open(options.input);
  if (!input.ok()) return input.status();

  absl::StatusOr<const TensorView*> hidden = input->Get("hidden_states");
  if (!hidden.ok()) return hidden.status();
  const TensorView& h = **hidden;
  if ((h.dtype != Dtype::kF32 && h.dtype != Dtype::kBf16) || h.shape.size() != 2 ||
      h.shape[1] != experts->hidden_size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: tensor 'hidden_states' is %s %s, expected F32 or BF16 [T, %d] (H of the experts)",
        input->path(), DtypeName(h.dtype), ShapeString(h.shape), experts->hidden_size));
  }
  const int64_t tokens = h.shape[0];
  absl::StatusOr<const TensorView*> ids_view = input->Get("topk_ids");
  if (!ids_view.ok()) return ids_view.status();
  if ((*ids_view)->shape.size() != 2 || (*ids_view)->shape[0] != tokens) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: tensor 'topk_ids' is %s, expected [T = %d, k]", input->path(),
                        ShapeString((*ids_view)->shape), tokens));
  }
  const int64_t k = (*ids_view)->shape[1];
  if (k > experts->count()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: tensor 'topk_ids' routes each token to k = %d experts, more than the %d there are",
        input->path(), k, experts->count()));
  }
  absl::StatusOr<std::vector<int64_t>> ids = input->ReadIntegers("topk_ids");
  if (!ids.ok()) return ids.status();
  absl::StatusOr<const TensorView*> routing =
      input->Get("topk_weights", Dtype::kF32, {tokens, k});
  if (!routing.ok()) return routing.status();
  std::vector<float> routing_weights;
  if (absl::Status s = ReadFloats(*input, **routing, routing_weights); !s.ok()) return s;
  if (const std::optional<int64_t> i = FirstNonFinite(routing_weights)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: tensor 'topk_weights' [token %d, slot %d] = %g is not finite", input->path(),
        *i / k, *i % k, routing_weights[*i]));
  }

  moe::MoeConfig config;
  config.expert_num = experts->count();
  config.num_experts_per_tok = static_cast<int>(k);
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

  std::vector<float> output;
  const std::string output_label = absl::StrFormat("%s: tensor 'output'", options.output);
  if (absl::Status s = AllocateChecked(output_label, h.numel(), sizeof(float),
                                       [&] { output.resize(h.numel()); });
      !s.ok()) {
    return s;
  }
  absl::Status forward;
  if (h.dtype == Dtype::kF32) {
    std::vector<float> x;
    if (absl::Status s = ReadFloats(*input, h, x); !s.ok()) return s;
    forward = (*layer)->Forward(tokens, static_cast<int>(k), ids->data(), routing_weights.data(),
                                x.data(), output.data());
  } else {
    std::vector<uint16_t> x;
    if (absl::Status s = AllocateChecked(Label(*input, h), h.numel(), sizeof(uint16_t),
                                         [&] { x.resize(h.numel()); });
        !s.ok()) {
      return s;
    }
    std::memcpy(x.data(), h.bytes.data(), h.bytes.size());
    forward = (*layer)->Forward(tokens, static_cast<int>(k), ids->data(), routing_weights.data(),
                                x.data(), output.data());
  }
  if (!forward.ok()) {
    return absl::Status(forward.code(),
                        absl::StrFormat("experts '%s' of %s on %s: %s", options.prefix,
                                        weights->path(), input->path(), forward.message()));
  }
  // Finite inputs (Forward checks hidden_states; the weights and topk_weights are checked when
  // read) can still overflow float, through large scales or routing weights.
  if (const std::optional<int64_t> i = FirstNonFinite(output)) {
    const int64_t token = *i / experts->hidden_size;
    std::vector<std::string> routes;
    for (int64_t j = 0; j < k; ++j) {
      routes.push_back(absl::StrFormat("expert %d with weight %g", (*ids)[token * k + j],
                                       routing_weights[token * k + j]));
    }
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s [token %d, column %d] = %g is not finite although every input is: the experts' "
        "weights or scales, or topk_weights, overflow float (token %d goes to %s); nothing "
        "written",
        output_label, token, *i % experts->hidden_size, output[*i], token,
        absl::StrJoin(routes, ", ")));
  }
  SafetensorsWriter writer;
  if (absl::Status s = writer.AddF32("output", {tokens, experts->hidden_size}, output); !s.ok()) {
    return s;
  }
  return writer.Write(options.output);
}

}  // namespace fp4moe::io
