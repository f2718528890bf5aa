#include "io/model_layer.h"

#include <algorithm>
#include <functional>
#include <set>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "files/out_of_memory.h"
#include "io/checkpoint.h"
#include "io/gpt_oss_layer.h"
#include "io/model_weights.h"
#include "moe/router.h"

namespace fp4moe::io {
namespace {

// The three projections of one expert of the operator, and the shape config.json gives them.
struct ExpertSource {
  StoredWeight projections[3];
  int64_t rows_per_slice = 0;  // intermediate size of one slice
  int64_t slices = 1;          // > 1: a shared MLP split into slices
};

// [I, H] for gate and up, [H, I] for down.
std::pair<int64_t, int64_t> ExpectedShape(int projection, int64_t inter, int64_t hidden) {
  return projection == kDownProj ? std::make_pair(hidden, inter) : std::make_pair(inter, hidden);
}

absl::Status ShapeError(const ModelConfig& config, const std::string& where,
                        const std::string& tensor, std::pair<int64_t, int64_t> shape,
                        std::pair<int64_t, int64_t> expected) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s: weight '%s' is [%d, %d], but %s gives [%d, %d] (gate and up [I, H], down [H, I], "
      "with I = %d and H = %d)",
      where, tensor, shape.first, shape.second, config.path, expected.first, expected.second,
      config.intermediate_size, config.hidden_size));
}

// Finds the three projections and checks the shapes of float ones (quantized ones are checked
// once read).
absl::StatusOr<ExpertSource> FindExpert(ModelFolder& folder, int64_t inter,
                                        const std::function<std::string(int)>& name_of) {
  ExpertSource source;
  source.rows_per_slice = folder.config().intermediate_size;
  source.slices = inter / source.rows_per_slice;
  for (int p = 0; p < 3; ++p) {
    absl::StatusOr<StoredWeight> w = FindWeight(folder, name_of(p));
    if (!w.ok()) return w.status();
    if (!w->format) {
      const std::pair<int64_t, int64_t> shape = {w->weight->shape[0], w->weight->shape[1]};
      const std::pair<int64_t, int64_t> expected =
          ExpectedShape(p, inter, folder.config().hidden_size);
      if (shape != expected) {
        return ShapeError(folder.config(), w->file->path(), w->weight->name, shape, expected);
      }
    }
    source.projections[p] = *std::move(w);
  }
  return source;
}

// The layer's format: the one asked for, else that of the quantized weights (all in one).
absl::StatusOr<WeightFormat> LayerFormat(const std::vector<ExpertSource>& sources,
                                         std::optional<WeightFormat> requested) {
  const StoredWeight* first = nullptr;
  for (const ExpertSource& source : sources) {
    for (const StoredWeight& w : source.projections) {
      if (!w.format) continue;
      if (requested && *w.format != *requested) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: weight '%s' is stored as %s, but --format asks for %s", w.file->path(), w.name,
            w.storage, TraitsOf(*requested).name));
      }
      if (first != nullptr && *w.format != *first->format) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: weight '%s' is stored as %s, but '%s' as %s: one layer runs one format",
            w.file->path(), w.name, w.storage, first->name, first->storage));
      }
      if (first == nullptr) first = &w;
    }
  }
  if (requested) return *requested;
  return first != nullptr ? *first->format : WeightFormat::kNvfp4;
}

// The INT4 K2 group size of the stored INT4 weights (read from the first), else `fallback`.
absl::StatusOr<int64_t> LayerGroupSize(const std::vector<ExpertSource>& sources,
                                       int64_t fallback) {
  for (const ExpertSource& source : sources) {
    for (const StoredWeight& w : source.projections) {
      if (w.format != WeightFormat::kInt4K2) continue;
      absl::StatusOr<Int4K2Tensor> t = ReadInt4K2(*w.file, w.name);
      if (!t.ok()) return t.status();
      return t->group_size;
    }
  }
  return fallback;
}

// Slice s of a shared MLP: rows of gate and up, columns of down.
RowMatrixXf Slice(const RowMatrixXf& m, int projection, int64_t s, int64_t rows) {
  return projection == kDownProj ? RowMatrixXf(m.middleCols(s * rows, rows))
                                 : RowMatrixXf(m.middleRows(s * rows, rows));
}

// Reads and quantizes one source into its slices, checking quantized shapes and group sizes.
absl::StatusOr<std::vector<moe::ExpertQuantizedWeights>> LoadExpert(
    const ModelConfig& config, const ExpertSource& source, const ModelLayer& layer) {
  std::vector<moe::ExpertQuantizedWeights> slices(source.slices);
  for (int p = 0; p < 3; ++p) {
    const StoredWeight& w = source.projections[p];
    std::vector<moe::QuantizedTensor> parts;
    if (source.slices == 1) {
      absl::StatusOr<moe::QuantizedTensor> q =
          LoadWeightAs(w, layer.format, layer.group_size, config.fp8_block);
      if (!q.ok()) return q.status();
      const std::pair<int64_t, int64_t> expected =
          ExpectedShape(p, source.rows_per_slice, config.hidden_size);
      if (QuantizedShape(*q) != expected) {
        return ShapeError(config, w.file->path(), w.name, QuantizedShape(*q), expected);
      }
      const auto* int4 = std::get_if<Int4K2Tensor>(&*q);
      if (int4 != nullptr && int4->group_size != layer.group_size) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: weight '%s' has INT4 groups of %d, the layer's other INT4 weights of %d",
            w.file->path(), w.name, int4->group_size, layer.group_size));
      }
      parts.push_back(*std::move(q));
    } else {
      if (w.format) {
        return absl::UnimplementedError(absl::StrFormat(
            "%s: weight '%s' is a shared MLP of %d experts' width stored as %s; only float "
            "ones are split",
            w.file->path(), w.name, source.slices, w.storage));
      }
      absl::StatusOr<RowMatrixXf> m = ReadFloatWeight(w, config.fp8_block);
      if (!m.ok()) return m.status();
      for (int64_t s = 0; s < source.slices; ++s) {
        absl::StatusOr<moe::QuantizedTensor> q = QuantizeWeight(
            files::StrFormatOrBadAlloc("%s: weight '%s' slice %d", w.file->path(), w.name, s),
            Slice(*m, p, s, source.rows_per_slice), layer.format, layer.group_size);
        if (!q.ok()) return q.status();
        parts.push_back(*std::move(q));
      }
    }
    for (int64_t s = 0; s < source.slices; ++s) {
      moe::QuantizedTensor& slot = p == kGateProj ? slices[s].gate
                                   : p == kUpProj ? slices[s].up
                                                  : slices[s].down;
      slot = std::move(parts[s]);
    }
  }
  return slices;
}

std::string StorageSummary(const std::vector<ExpertSource>& sources) {
  std::set<std::string> kinds;
  for (const ExpertSource& source : sources) {
    for (const StoredWeight& w : source.projections) kinds.insert(w.storage);
  }
  return absl::StrJoin(kinds, " + ");
}

}  // namespace

absl::StatusOr<ModelLayer> LoadModelLayer(ModelFolder& folder, int64_t layer,
                                          const LayerLoadOptions& options) {
  const ModelConfig& config = folder.config();
  if (absl::Status s = config.CheckMoeLayer(layer); !s.ok()) return s;
  ModelLayer loaded;
  loaded.layer = layer;
  loaded.hidden_size = config.hidden_size;
  loaded.intermediate_size = config.intermediate_size;
  loaded.routed_experts = config.num_experts;
  if (config.family == ModelFamily::kGptOss) {
    if (absl::Status s = LoadGptOssExperts(folder, options, loaded); !s.ok()) return s;
    return loaded;
  }

  std::vector<ExpertSource> sources;
  for (int64_t e = 0; e < config.num_experts; ++e) {
    absl::StatusOr<ExpertSource> source =
        FindExpert(folder, config.intermediate_size,
                   [&](int p) { return config.ExpertName(layer, e, p); });
    if (!source.ok()) return source.status();
    sources.push_back(*std::move(source));
  }
  const std::string shared_prefix = config.SharedExpertName(layer, kGateProj);
  const bool has_shared_tensors =
      !folder.NamesWithPrefix(shared_prefix.substr(0, shared_prefix.rfind('.') + 1)).empty();
  if (config.shared_experts == 0 && has_shared_tensors) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: layer %d has shared expert tensors ('%s', ...), but %s has no n_shared_experts",
        folder.weights_path(), layer, shared_prefix, config.path));
  }
  if (config.shared_experts > 0) {
    absl::StatusOr<ExpertSource> shared =
        FindExpert(folder, config.shared_experts * config.intermediate_size,
                   [&](int p) { return config.SharedExpertName(layer, p); });
    if (!shared.ok()) return shared.status();
    sources.push_back(*std::move(shared));
    loaded.shared_slots = config.shared_experts;
  }

  absl::StatusOr<WeightFormat> format = LayerFormat(sources, options.format);
  if (!format.ok()) return format.status();
  loaded.format = *format;
  absl::StatusOr<int64_t> group_size = LayerGroupSize(sources, options.group_size);
  if (!group_size.ok()) return group_size.status();
  loaded.group_size = *group_size;
  loaded.storage = StorageSummary(sources);

  // Shards are all open: the rest reads mapped memory only, one source per thread at a time.
  const int64_t count = static_cast<int64_t>(sources.size());
  std::vector<absl::StatusOr<std::vector<moe::ExpertQuantizedWeights>>> results(count);
#pragma omp parallel for schedule(dynamic, 1) num_threads(std::max(1, options.threads))
  for (int64_t i = 0; i < count; ++i) {
    // No exception may leave an OpenMP loop: a std::bad_alloc would abort the process.
    results[i] = files::CatchOutOfMemory(
        [&] {
          return files::StrFormatOrBadAlloc(
              "%s: layer %d: loading the expert of weight '%s'", folder.weights_path(), layer,
              sources[i].projections[0].name);
        },
        [&] { return LoadExpert(config, sources[i], loaded); });
  }
  for (auto& result : results) {
    if (!result.ok()) return result.status();
    for (moe::ExpertQuantizedWeights& expert : *result) loaded.experts.push_back(std::move(expert));
  }
  return loaded;
}

absl::StatusOr<LayerRouter> LoadRouter(ModelFolder& folder, int64_t layer) {
  const ModelConfig& config = folder.config();
  const std::string name = config.RouterName(layer);
  absl::StatusOr<StoredWeight> stored = FindWeight(folder, name);
  if (!stored.ok()) return stored.status();
  LayerRouter router;
  absl::StatusOr<RowMatrixXf> weight = ReadFloatWeight(*stored, config.fp8_block);
  if (!weight.ok()) return weight.status();
  if (weight->rows() != config.num_experts || weight->cols() != config.hidden_size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: router weight '%s.weight' is [%d, %d], but %s gives [%d, %d] (experts, hidden "
        "size)",
        stored->file->path(), name, weight->rows(), weight->cols(), config.path,
        config.num_experts, config.hidden_size));
  }
  router.weight = *std::move(weight);
  if (config.family != ModelFamily::kDeepseekV3 && config.family != ModelFamily::kGptOss) {
    return router;
  }
  const std::string bias_name =
      name + (config.family == ModelFamily::kGptOss ? ".bias" : ".e_score_correction_bias");
  absl::StatusOr<const SafetensorsFile*> shard = folder.ShardOf(bias_name);
  if (!shard.ok()) return shard.status();
  absl::StatusOr<const TensorView*> bias = (*shard)->Get(bias_name);
  if (!bias.ok()) return bias.status();
  const TensorView& b = **bias;
  if (!IsConvertibleToFloat(b.dtype) || b.shape != std::vector<int64_t>{config.num_experts}) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: tensor '%s' is %s %s, expected F32, BF16 or F16 [%d] (one per routed expert)",
        (*shard)->path(), bias_name, DtypeName(b.dtype), ShapeString(b.shape),
        config.num_experts));
  }
  router.bias = FloatValues(b);
  return router;
}

absl::Status RouteTokens(const ModelConfig& config, const LayerRouter& router,
                         ConstRowMatrixRef hidden, absl::Span<int64_t> ids,
                         absl::Span<float> weights) {
  const RowMatrixXf logits = hidden * router.weight.transpose();
  return moe::Route(config.Router(), logits, router.bias, ids, weights);
}

}  // namespace fp4moe::io
