#include "io/gpt_oss_layer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "files/out_of_memory.h"
#include "io/checkpoint.h"
#include "io/gpt_oss_weights.h"
#include "io/model_weights.h"
#include "io/safetensors.h"
#include "quant/mxfp4.h"

namespace fp4moe::io {
namespace {

struct Found {
  const SafetensorsFile* file = nullptr;
  const TensorView* tensor = nullptr;
};

absl::StatusOr<Found> FindTensor(ModelFolder& folder, const std::string& name) {
  absl::StatusOr<const SafetensorsFile*> shard = folder.ShardOf(name);
  if (!shard.ok()) return shard.status();
  absl::StatusOr<const TensorView*> tensor = (*shard)->Get(name);
  if (!tensor.ok()) return tensor.status();
  return Found{*shard, *tensor};
}

// OK where `t` is float (F32, BF16 or F16; else U8) of `shape`; else an error naming the file
// and the tensor and what the shape means.
absl::Status Expect(const Found& t, bool float_values, const std::vector<int64_t>& shape,
                    std::string_view meaning) {
  const Dtype dtype = t.tensor->dtype;
  const bool dtype_ok = float_values ? IsConvertibleToFloat(dtype) : dtype == Dtype::kU8;
  if (dtype_ok && t.tensor->shape == shape) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s: tensor '%s' is %s %s, expected %s %s (%s)", t.file->path(), t.tensor->name,
      DtypeName(dtype), ShapeString(t.tensor->shape), float_values ? "F32, BF16 or F16" : "U8",
      ShapeString(shape), meaning));
}

// Rows first, first + step, ... of expert e's MXFP4 rows [rows, cols] in blocks and scales.
Mxfp4Tensor Mxfp4Rows(const TensorView& blocks, const TensorView& scales, int64_t e,
                      int64_t rows, int64_t cols, int64_t first, int64_t step) {
  const TensorView expert_blocks = ExpertView(blocks, e), expert_scales = ExpertView(scales, e);
  Mxfp4Tensor t;
  t.rows = (rows - first + step - 1) / step;
  t.cols = cols;
  const int64_t row_bytes = cols / 2, row_scales = cols / Mxfp4Tensor::kBlock;
  for (int64_t r = first; r < rows; r += step) {
    const uint8_t* b = expert_blocks.bytes.data() + r * row_bytes;
    const uint8_t* s = expert_scales.bytes.data() + r * row_scales;
    t.packed.insert(t.packed.end(), b, b + row_bytes);
    t.scales.insert(t.scales.end(), s, s + row_scales);
  }
  return t;
}

// Every `step`-th value of expert e's biases from `first`.
std::vector<float> BiasValues(const TensorView& t, int64_t e, int64_t first, int64_t step) {
  const std::vector<float> values = FloatValues(ExpertView(t, e));
  std::vector<float> out;
  for (size_t i = first; i < values.size(); i += step) out.push_back(values[i]);
  return out;
}

// The layer's tensors: MXFP4 blocks and scales, float weights, or quantize --model's weights
// per expert (io/gpt_oss_weights.h), and the biases.
struct FusedTensors {
  bool mxfp4 = false;
  Found gate_up, down;                 // _blocks, or the float weights
  Found gate_up_scales, down_scales;   // MXFP4 only
  Found gate_up_bias, down_bias;
  // Per expert: gate, up and down, each quantized in a format of io/checkpoint.h.
  std::vector<std::array<StoredWeight, 3>> per_expert;
};

// quantize --model's layout, where expert 0's gate is there: every expert's weights, found
// (opening their shards) before experts are read in parallel. Each must be quantized.
absl::Status FindPerExpertWeights(ModelFolder& folder, int64_t layer, FusedTensors& t) {
  const ModelConfig& c = folder.config();
  for (int64_t e = 0; e < c.num_experts; ++e) {
    std::array<StoredWeight, 3> expert;
    for (int p = 0; p < 3; ++p) {
      absl::StatusOr<StoredWeight> w = FindWeight(folder, c.ExpertName(layer, e, p));
      if (!w.ok()) return w.status();
      if (!w->format) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: gpt-oss weight '%s' is stored per expert as %s; per expert, only quantized "
            "weights are read (float ones are fused: gate_up_proj, down_proj)",
            w->file->path(), w->name, w->storage));
      }
      expert[p] = *std::move(w);
    }
    t.per_expert.push_back(std::move(expert));
  }
  return absl::OkStatus();
}

absl::StatusOr<FusedTensors> FindFusedTensors(ModelFolder& folder, int64_t layer) {
  const ModelConfig& c = folder.config();
  const int64_t e = c.num_experts, h = c.hidden_size, i = c.intermediate_size;
  const std::string prefix = c.FusedExpertsName(layer) + ".";
  FusedTensors t;
  t.mxfp4 = folder.contains(prefix + "gate_up_proj_blocks");
  const std::string first_expert = c.ExpertName(layer, 0, kGateProj);
  const bool per_expert = !t.mxfp4 && !folder.contains(prefix + "gate_up_proj") &&
                          !folder.NamesWithPrefix(first_expert + ".").empty();
  if (per_expert) {
    if (absl::Status s = FindPerExpertWeights(folder, layer, t); !s.ok()) return s;
  } else if (!t.mxfp4 && !folder.contains(prefix + "gate_up_proj")) {
    return absl::NotFoundError(absl::StrFormat(
        "%s: layer %d has neither '%sgate_up_proj_blocks' (MXFP4) nor '%sgate_up_proj' "
        "(float) nor '%s.*' (quantized per expert)",
        folder.weights_path(), layer, prefix, prefix, first_expert));
  }
  if (t.mxfp4 && (h % Mxfp4Tensor::kBlock != 0 || i % Mxfp4Tensor::kBlock != 0)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: hidden_size %d and intermediate_size %d must be multiples of 32 for MXFP4 blocks",
        c.path, h, i));
  }
  const struct {
    std::string suffix;
    Found* found;
    bool float_values;
    std::vector<int64_t> shape;
    std::string meaning;
  } wanted[] = {
      {"gate_up_proj_blocks", &t.gate_up, false, {e, 2 * i, h / 32, 16},
       "experts, 2 x intermediate_size, hidden_size / 32, 16 bytes"},
      {"gate_up_proj_scales", &t.gate_up_scales, false, {e, 2 * i, h / 32},
       "experts, 2 x intermediate_size, hidden_size / 32"},
      {"down_proj_blocks", &t.down, false, {e, h, i / 32, 16},
       "experts, hidden_size, intermediate_size / 32, 16 bytes"},
      {"down_proj_scales", &t.down_scales, false, {e, h, i / 32},
       "experts, hidden_size, intermediate_size / 32"},
      {"gate_up_proj", &t.gate_up, true, {e, h, 2 * i},
       "experts, hidden_size, 2 x intermediate_size"},
      {"down_proj", &t.down, true, {e, i, h}, "experts, intermediate_size, hidden_size"},
      {"gate_up_proj_bias", &t.gate_up_bias, true, {e, 2 * i},
       "experts, 2 x intermediate_size"},
      {"down_proj_bias", &t.down_bias, true, {e, h}, "experts, hidden_size"},
  };
  for (const auto& w : wanted) {
    const bool bias = w.suffix.find("bias") != std::string::npos;
    if (!bias && (per_expert || w.float_values == t.mxfp4)) continue;  // another layout's
    absl::StatusOr<Found> found = FindTensor(folder, prefix + w.suffix);
    if (!found.ok()) return found.status();
    if (absl::Status s = Expect(*found, w.float_values, w.shape, w.meaning); !s.ok()) return s;
    *w.found = *found;
  }
  return t;
}

// The weight as the layer runs it: MXFP4 kept where `format` is MXFP4, else quantized.
absl::StatusOr<moe::QuantizedTensor> AsFormat(std::string_view name,
                                              std::optional<Mxfp4Tensor> mxfp4,
                                              const RowMatrixXf& values, WeightFormat format,
                                              int64_t group_size) {
  if (mxfp4 && format == WeightFormat::kMxfp4) return moe::QuantizedTensor(*std::move(mxfp4));
  return QuantizeWeight(name, mxfp4 ? Dequantize(*mxfp4) : values, format, group_size);
}

// Expert e's three projections in `format`, gate the even rows of gate-up and up the odd ones.
absl::StatusOr<moe::ExpertQuantizedWeights> LoadExpert(const FusedTensors& t, int64_t e,
                                                       const ModelConfig& c,
                                                       WeightFormat format,
                                                       int64_t group_size) {
  const int64_t h = c.hidden_size, i = c.intermediate_size;
  moe::QuantizedTensor out[3];
  for (int p = 0; p < 3; ++p) {
    const bool down = p == kDownProj;
    if (!t.per_expert.empty()) {
      const StoredWeight& w = t.per_expert[e][p];
      absl::StatusOr<moe::QuantizedTensor> q = LoadWeightAs(w, format, group_size, c.fp8_block);
      if (!q.ok()) return q.status();
      const std::pair<int64_t, int64_t> expected = down ? std::pair(h, i) : std::pair(i, h);
      if (QuantizedShape(*q) != expected) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: weight '%s' is [%d, %d], but %s gives [%d, %d]", w.file->path(), w.name,
            QuantizedShape(*q).first, QuantizedShape(*q).second, c.path, expected.first,
            expected.second));
      }
      const auto* int4 = std::get_if<Int4K2Tensor>(&*q);
      if (int4 != nullptr && int4->group_size != group_size) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: weight '%s' has INT4 groups of %d, expert 0's gate of %d", w.file->path(),
            w.name, int4->group_size, group_size));
      }
      out[p] = *std::move(q);
      continue;
    }
    const Found& w = down ? t.down : t.gate_up;
    const std::string name = files::StrFormatOrBadAlloc(
        "%s: tensor '%s' expert %d %s", w.file->path(), w.tensor->name, e,
        down ? "down" : p == kGateProj ? "gate" : "up");
    std::optional<Mxfp4Tensor> mxfp4;
    RowMatrixXf values;
    if (t.mxfp4) {
      const Found& scales = down ? t.down_scales : t.gate_up_scales;
      mxfp4 = down ? Mxfp4Rows(*w.tensor, *scales.tensor, e, h, i, 0, 1)
                   : Mxfp4Rows(*w.tensor, *scales.tensor, e, 2 * i, h, p, 2);
      if (absl::Status s = CheckConsistent(name, *mxfp4); !s.ok()) return s;
    } else {
      values = down ? TransposedColumns(*w.tensor, e, 0, 1)
                    : TransposedColumns(*w.tensor, e, p, 2);
    }
    absl::StatusOr<moe::QuantizedTensor> q =
        AsFormat(name, std::move(mxfp4), values, format, group_size);
    if (!q.ok()) return q.status();
    out[p] = *std::move(q);
  }
  return moe::ExpertQuantizedWeights{std::move(out[0]), std::move(out[1]), std::move(out[2])};
}

}  // namespace

absl::Status LoadGptOssExperts(ModelFolder& folder, const LayerLoadOptions& options,
                               ModelLayer& loaded) {
  const ModelConfig& c = folder.config();
  absl::StatusOr<FusedTensors> tensors = FindFusedTensors(folder, loaded.layer);
  if (!tensors.ok()) return tensors.status();
  const std::vector<std::array<StoredWeight, 3>>& per_expert = tensors->per_expert;
  loaded.format = options.format.value_or(!per_expert.empty() ? *per_expert[0][0].format
                                          : tensors->mxfp4    ? WeightFormat::kMxfp4
                                                              : WeightFormat::kNvfp4);
  loaded.group_size = options.group_size;
  if (!per_expert.empty() && per_expert[0][0].format == WeightFormat::kInt4K2) {
    // Each expert's groups are checked against the first's below.
    const StoredWeight& first = per_expert[0][0];
    absl::StatusOr<Int4K2Tensor> t = ReadInt4K2(*first.file, first.name);
    if (!t.ok()) return t.status();
    loaded.group_size = t->group_size;
  }
  loaded.storage = !per_expert.empty() ? std::string(per_expert[0][0].storage) + " per expert"
                   : tensors->mxfp4    ? std::string("MXFP4 blocks")
                                       : std::string(DtypeName(tensors->gate_up.tensor->dtype));
  loaded.activation = moe::ExpertActivation::kClampedSwiglu;
  loaded.swiglu_limit = static_cast<float>(c.swiglu_limit);

  const int64_t count = c.num_experts;
  std::vector<absl::StatusOr<moe::ExpertQuantizedWeights>> experts(
      count, absl::UnknownError("not loaded"));
  // Shards are all open: the rest reads mapped memory only.
#pragma omp parallel for schedule(dynamic, 1) num_threads(std::max(1, options.threads))
  for (int64_t e = 0; e < count; ++e) {
    // No exception may leave an OpenMP loop: a std::bad_alloc would abort the process.
    experts[e] = files::CatchOutOfMemory(
        [&] {
          return files::StrFormatOrBadAlloc("%s: layer %d: loading expert %d",
                                            folder.weights_path(), loaded.layer, e);
        },
        [&] { return LoadExpert(*tensors, e, c, loaded.format, loaded.group_size); });
  }
  for (int64_t e = 0; e < count; ++e) {
    if (!experts[e].ok()) return experts[e].status();
    loaded.experts.push_back(*std::move(experts[e]));
    const TensorView& gate_up_bias = *tensors->gate_up_bias.tensor;
    moe::ExpertBiases biases{BiasValues(gate_up_bias, e, 0, 2), BiasValues(gate_up_bias, e, 1, 2),
                             BiasValues(*tensors->down_bias.tensor, e, 0, 1)};
    for (const std::vector<float>* values : {&biases.gate, &biases.up, &biases.down}) {
      const auto bad = std::find_if(values->begin(), values->end(),
                                    [](float v) { return !std::isfinite(v); });
      if (bad != values->end()) {
        const Found& where = values == &biases.down ? tensors->down_bias : tensors->gate_up_bias;
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: tensor '%s' expert %d has a value that is not finite (%g)",
            where.file->path(), where.tensor->name, e, *bad));
      }
    }
    loaded.biases.push_back(std::move(biases));
  }
  return absl::OkStatus();
}

}  // namespace fp4moe::io
