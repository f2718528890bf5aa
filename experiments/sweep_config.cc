#include "experiments/sweep_config.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "files/input_files.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/text_format.h"
#include "kernels/gemm.h"
#include "kernels/microkernel_table.h"
#include "moe/model_presets.h"
#include "moe/moe_config.h"

namespace fp4moe::experiments {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::TextFormat;

// Collects the parser's errors as "file:line:column: message" (the parser counts from 0).
class FileErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  explicit FileErrorCollector(std::string_view file) : file_(file) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    errors_.push_back(absl::StrFormat("%s:%d:%d: %s", file_, line + 1, column + 1, message));
  }
  void AddWarning(int line, google::protobuf::io::ColumnNumber column,
                  const std::string& message) override {
    AddError(line, column, "warning: " + message);
  }
  std::vector<std::string>& errors() { return errors_; }

 private:
  std::string file_;
  std::vector<std::string> errors_;
};

// Semantic errors, placed at the field they concern through the parser's location tree.
class Checker {
 public:
  Checker(std::string_view file, const TextFormat::ParseInfoTree& tree)
      : file_(file), tree_(tree) {}

  // A field of the Sweep itself (index: the element of a repeated field, -1 otherwise).
  void Error(std::string_view field, int index, absl::string_view message) {
    AddAt(&tree_, Sweep::descriptor(), field, index, message);
  }
  // A field of the index-th element of the Sweep's repeated message field `parent`.
  void NestedError(std::string_view parent, int parent_index, std::string_view field,
                   int index, absl::string_view message) {
    const auto* parent_field = Sweep::descriptor()->FindFieldByName(std::string(parent));
    const TextFormat::ParseInfoTree* nested = tree_.GetTreeForNested(parent_field, parent_index);
    AddAt(nested, parent_field->message_type(), field, index, message);
  }
  std::vector<std::string>& errors() { return errors_; }

 private:
  void AddAt(const TextFormat::ParseInfoTree* tree, const Descriptor* descriptor,
             std::string_view field, int index, absl::string_view message) {
    const auto* fd = descriptor->FindFieldByName(std::string(field));
    TextFormat::ParseLocation where;
    // A repeated field as a whole has no location (the parser would abort on index -1).
    if (tree != nullptr && fd != nullptr && (index >= 0) == fd->is_repeated()) {
      where = tree->GetLocation(fd, index);
    }
    if (where.line < 0) {  // not written in the file: a default
      errors_.push_back(absl::StrFormat("%s: %s: %s", file_, field, message));
    } else {
      errors_.push_back(
          absl::StrFormat("%s:%d:%d: %s", file_, where.line + 1, where.column + 1, message));
    }
  }

  std::string file_;
  const TextFormat::ParseInfoTree& tree_;
  std::vector<std::string> errors_;
};

std::optional<Measure> ParseMeasure(std::string_view name) {
  if (name == "gemm") return Measure::kGemm;
  if (name == "moe") return Measure::kMoe;
  return std::nullopt;
}

void ResolveModels(const Sweep& sweep, Checker& check, SweepConfig& config) {
  if (sweep.model_size() == 0) check.Error("model", -1, "give at least one model");
  for (int i = 0; i < sweep.model_size(); ++i) {
    const Model& m = sweep.model(i);
    ModelShape shape;
    if (m.has_preset()) {
      absl::StatusOr<ModelShape> preset = ModelPreset(m.preset());
      if (!preset.ok()) {
        check.NestedError("model", i, "preset", -1, preset.status().message());
        continue;
      }
      shape = *preset;
    } else if (!m.has_hidden() || !m.has_intermediate() || !m.has_experts() || !m.has_top_k()) {
      check.Error("model", i,
                  absl::StrCat("a model without a preset (", moe::ModelPresetNames(),
                               ") needs hidden, intermediate, experts and top_k"));
      continue;
    }
    // Numbers written beside a preset override it (e.g. a preset with fewer experts).
    if (m.has_hidden()) shape.hidden = m.hidden();
    if (m.has_intermediate()) shape.intermediate = m.intermediate();
    if (m.has_experts()) shape.experts = m.experts();
    if (m.has_top_k()) shape.top_k = m.top_k();
    const bool overrides_preset =
        m.has_hidden() || m.has_intermediate() || m.has_experts() || m.has_top_k();
    if (m.has_name()) {
      shape.name = m.name();
    } else if (overrides_preset) {
      shape.name = absl::StrFormat("h%d_i%d_e%d_top%d", shape.hidden, shape.intermediate,
                                   shape.experts, shape.top_k);
    }
    bool ok = true;
    for (int j = 0; j < m.measure_size(); ++j) {
      if (std::optional<Measure> measure = ParseMeasure(m.measure(j))) {
        shape.measures.push_back(*measure);
      } else {
        check.NestedError("model", i, "measure", j,
                          absl::StrFormat("unknown measure \"%s\" (gemm, moe)", m.measure(j)));
        ok = false;
      }
    }
    for (const auto& [field, value] : {std::pair{"hidden", shape.hidden},
                                       {"intermediate", shape.intermediate},
                                       {"experts", shape.experts},
                                       {"top_k", int64_t{shape.top_k}}}) {
      if (value <= 0) {
        check.NestedError("model", i, field, -1,
                          absl::StrFormat("%s must be positive, got %d", field, value));
        ok = false;
      }
    }
    if (ok && shape.top_k > shape.experts) {
      check.NestedError("model", i, "top_k", -1,
                        absl::StrFormat("top_k %d exceeds experts %d", shape.top_k,
                                        shape.experts));
      ok = false;
    }
    if (ok) config.models.push_back(shape);
  }
}

// The K of every GEMM the sweep runs on `model` with tp_parts `tp` (MoE down uses I / tp).
std::vector<std::pair<std::string, int64_t>> KDims(const SweepConfig& config,
                                                   const ModelShape& model) {
  std::vector<std::pair<std::string, int64_t>> dims = {{"hidden", model.hidden},
                                                       {"intermediate", model.intermediate}};
  if (config.Runs(Measure::kMoe, model)) {
    for (int tp : config.tp_parts) {
      if (tp > 1) {
        dims.push_back({absl::StrFormat("intermediate / tp_parts %d", tp),
                        model.intermediate / tp});
      }
    }
  }
  return dims;
}

void ResolveFormats(const Sweep& sweep, Checker& check, SweepConfig& config) {
  if (sweep.format_size() == 0) check.Error("format", -1, "give at least one format");
  for (int i = 0; i < sweep.format_size(); ++i) {
    const Format& f = sweep.format(i);
    absl::StatusOr<WeightFormat> format = ParseWeightFormat(f.name());
    if (!format.ok()) {
      check.NestedError("format", i, "name", -1, format.status().message());
      continue;
    }
    FormatChoice choice{*format, {}, {}};
    const FormatTraits& traits = TraitsOf(*format);
    bool ok = true;
    for (int p = 0; p < f.path_size(); ++p) {
      if (f.path(p) == "auto") {
        choice.paths.push_back(std::nullopt);
        continue;
      }
      absl::StatusOr<kernels::GemmPath> path = kernels::ParsePath(f.path(p));
      if (!path.ok()) {
        check.NestedError("format", i, "path", p,
                          absl::StrCat(path.status().message(), " (or auto)"));
        ok = false;
      } else if (!kernels::PathTakesFormat(*path, *format)) {
        check.NestedError("format", i, "path", p,
                          absl::StrFormat("path %s does not take %s weights", f.path(p),
                                          traits.name));
        ok = false;
      } else {
        choice.paths.push_back(*path);
      }
    }
    if (f.path_size() == 0) {
      for (kernels::GemmPath path : kernels::AllPaths()) {
        if (kernels::PathTakesFormat(path, *format)) choice.paths.push_back(path);
      }
    }
    if (f.group_size_size() > 0 && !traits.configurable_block_size) {
      check.NestedError("format", i, "group_size", 0,
                        absl::StrFormat("group_size applies to int4_k2 only; %s has a fixed "
                                        "block of %d",
                                        traits.name, traits.block_size));
      ok = false;
    }
    for (int g = 0; g < f.group_size_size(); ++g) choice.group_sizes.push_back(f.group_size(g));
    if (choice.group_sizes.empty()) choice.group_sizes.push_back(traits.block_size);
    for (int g = 0; ok && g < static_cast<int>(choice.group_sizes.size()); ++g) {
      const int64_t group = choice.group_sizes[g];
      const int field_index = f.group_size_size() > 0 ? g : -1;
      if (group <= 0) {
        check.NestedError("format", i, "group_size", field_index,
                          absl::StrFormat("group_size must be positive, got %d", group));
        ok = false;
        continue;
      }
      for (const ModelShape& model : config.models) {
        for (const auto& [what, k] : KDims(config, model)) {
          if (k % group != 0) {
            check.NestedError("format", i, f.group_size_size() > 0 ? "group_size" : "name",
                              field_index,
                              absl::StrFormat("%s block %d does not divide model %s's %s %d",
                                              traits.name, group, model.name, what, k));
            ok = false;
          }
        }
      }
    }
    if (ok) config.formats.push_back(std::move(choice));
  }
}

template <typename T>
std::vector<T> OrDefault(const google::protobuf::RepeatedField<T>& values, T fallback) {
  std::vector<T> out(values.begin(), values.end());
  if (out.empty()) out.push_back(fallback);
  return out;
}

void ResolveLists(const Sweep& sweep, Checker& check, SweepConfig& config) {
  for (int i = 0; i < sweep.measure_size(); ++i) {
    if (std::optional<Measure> measure = ParseMeasure(sweep.measure(i))) {
      config.measures.push_back(*measure);
    } else {
      check.Error("measure", i, absl::StrFormat("unknown measure \"%s\" (gemm, moe)",
                                                sweep.measure(i)));
    }
  }
  if (sweep.measure_size() == 0) config.measures.push_back(Measure::kGemm);
  for (int i = 0; i < sweep.gemm_projection_size(); ++i) {
    if (sweep.gemm_projection(i) == "up") {
      config.projections.push_back(Projection::kUp);
    } else if (sweep.gemm_projection(i) == "down") {
      config.projections.push_back(Projection::kDown);
    } else {
      check.Error("gemm_projection", i,
                  absl::StrFormat("unknown projection \"%s\" (up, down)",
                                  sweep.gemm_projection(i)));
    }
  }
  if (sweep.gemm_projection_size() == 0) config.projections.push_back(Projection::kUp);
  for (int i = 0; i < sweep.distribution_size(); ++i) {
    absl::StatusOr<WeightDistribution> d = ParseDistribution(sweep.distribution(i));
    if (d.ok()) {
      config.distributions.push_back(*d);
    } else {
      check.Error("distribution", i, d.status().message());
    }
  }
  if (sweep.distribution_size() == 0) config.distributions.push_back(*ParseDistribution("gaussian"));

  if (sweep.qlen_size() == 0) check.Error("qlen", -1, "give at least one qlen");
  for (int i = 0; i < sweep.qlen_size(); ++i) {
    if (sweep.qlen(i) <= 0) {
      check.Error("qlen", i, absl::StrFormat("qlen must be positive, got %d", sweep.qlen(i)));
    }
  }
  config.qlens.assign(sweep.qlen().begin(), sweep.qlen().end());
  for (int i = 0; i < sweep.threads_size(); ++i) {
    if (sweep.threads(i) < 0 || sweep.threads(i) > moe::kMaxThreads) {
      check.Error("threads", i,
                  absl::StrFormat("threads must be 0 (all) or in [1, %d], got %d",
                                  moe::kMaxThreads, sweep.threads(i)));
    }
  }
  config.threads = OrDefault(sweep.threads(), 0);
  for (int i = 0; i < sweep.tp_parts_size(); ++i) {
    if (sweep.tp_parts(i) <= 0) {
      check.Error("tp_parts", i,
                  absl::StrFormat("tp_parts must be positive, got %d", sweep.tp_parts(i)));
    }
  }
  config.tp_parts = OrDefault(sweep.tp_parts(), 1);
  config.seeds = OrDefault<uint64_t>(sweep.seed(), 1);

  for (const auto& [field, value, minimum] :
       {std::tuple{"repetitions", int64_t{sweep.repetitions()}, int64_t{1}},
        {"accuracy_tokens", sweep.accuracy_tokens(), int64_t{1}},
        {"moe_max_experts", sweep.moe_max_experts(), int64_t{1}},
        {"stream_bytes", sweep.stream_bytes(), int64_t{0}},
        {"bandwidth_probe_bytes", sweep.bandwidth_probe_bytes(), int64_t{1}}}) {
    if (value < minimum) {
      check.Error(field, -1, absl::StrFormat("%s must be at least %d, got %d", field, minimum,
                                             value));
    }
  }
  if (sweep.has_isa()) {
    absl::StatusOr<kernels::Isa> isa = kernels::ParseIsa(sweep.isa());
    if (isa.ok()) {
      config.isa = *isa;
    } else {
      check.Error("isa", -1, isa.status().message());
    }
  }
}

// What the MoE operator itself would refuse, caught before anything runs.
void CheckMoeConfigs(const Sweep& sweep, Checker& check, const SweepConfig& config) {
  for (const ModelShape& model : config.models) {
    if (!config.Runs(Measure::kMoe, model)) continue;
    if (config.moe_experts(model) < model.top_k) {
      check.Error("moe_max_experts", -1,
                  absl::StrFormat("moe_max_experts %d is below model %s's top_k %d",
                                  sweep.moe_max_experts(), model.name, model.top_k));
      continue;
    }
    for (size_t f = 0; f < config.formats.size(); ++f) {
      for (int tp : config.tp_parts) {
        moe::MoeConfig moe;
        moe.expert_num = config.moe_experts(model);
        moe.num_experts_per_tok = model.top_k;
        moe.hidden_size = model.hidden;
        moe.intermediate_size = model.intermediate;
        moe.activation = model.activation;
        moe.swiglu_limit = model.swiglu_limit;
        moe.max_len = config.max_qlen();
        moe.weight_format = config.formats[f].format;
        moe.group_size = config.formats[f].group_sizes[0];
        moe.tp_parts = tp;
        if (absl::Status s = moe.Validate(); !s.ok()) {
          check.Error("format", static_cast<int>(f),
                      absl::StrFormat("model %s, tp_parts %d: %s", model.name, tp, s.message()));
        }
      }
    }
  }
}

}  // namespace

std::string_view MeasureName(Measure measure) {
  return measure == Measure::kGemm ? "gemm" : "moe";
}

std::string_view ProjectionName(Projection projection) {
  return projection == Projection::kUp ? "up" : "down";
}

absl::StatusOr<ModelShape> ModelPreset(std::string_view name) {
  const moe::ModelPreset* preset = moe::FindModelPreset(name);
  if (preset == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("unknown preset \"%s\" (%s)", name, moe::ModelPresetNames()));
  }
  ModelShape shape{std::string(preset->name), preset->hidden, preset->intermediate,
                   preset->experts, preset->top_k, {}};
  shape.activation = preset->activation;
  shape.swiglu_limit = preset->swiglu_limit;
  shape.biases = preset->biases;
  return shape;
}

absl::StatusOr<WeightDistribution> ParseDistribution(std::string_view name) {
  if (name == "gaussian") return WeightDistribution{"gaussian", Distribution::kGaussian};
  if (name == "heavy_tailed") return WeightDistribution{"heavy_tailed", Distribution::kHeavyTailed};
  if (name == "outliers") return WeightDistribution{"outliers", Distribution::kOutliers};
  if (name == "real_like") {
    return WeightDistribution{"real_like", Distribution::kHeavyTailed, true};
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "unknown distribution \"%s\" (gaussian, heavy_tailed, outliers, real_like)", name));
}

bool ModelShape::Takes(Measure measure) const {
  return measures.empty() || std::find(measures.begin(), measures.end(), measure) != measures.end();
}

bool SweepConfig::Runs(Measure measure, const ModelShape& model) const {
  return model.Takes(measure) &&
         std::find(measures.begin(), measures.end(), measure) != measures.end();
}

int64_t SweepConfig::max_qlen() const {
  return qlens.empty() ? 1 : *std::max_element(qlens.begin(), qlens.end());
}

int64_t SweepConfig::moe_experts(const ModelShape& model) const {
  return std::min(model.experts, proto.moe_max_experts());
}

absl::StatusOr<SweepConfig> ParseSweepConfig(std::string_view text, std::string_view file_name) {
  SweepConfig config;
  FileErrorCollector parse_errors(file_name);
  TextFormat::ParseInfoTree tree;
  TextFormat::Parser parser;
  parser.RecordErrorsTo(&parse_errors);
  parser.WriteLocationsTo(&tree);
  if (!parser.ParseFromString(std::string(text), &config.proto) || !parse_errors.errors().empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(parse_errors.errors(), "\n"));
  }
  const Sweep& sweep = config.proto;
  config.name = sweep.has_name() ? sweep.name() : "sweep";
  Checker check(file_name, tree);
  ResolveModels(sweep, check, config);
  ResolveLists(sweep, check, config);
  ResolveFormats(sweep, check, config);
  if (check.errors().empty()) CheckMoeConfigs(sweep, check, config);
  if (!check.errors().empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(check.errors(), "\n"));
  }
  return config;
}

absl::StatusOr<SweepConfig> LoadSweepConfig(const std::string& path) {
  // A sweep config is a few kilobytes; a megabyte is a wrong file.
  absl::StatusOr<std::string> text = files::ReadRegularFile(path, "sweep config", 1 << 20);
  if (!text.ok()) return text.status();
  return ParseSweepConfig(*text, path);
}

std::string ConfigHash(const SweepConfig& config) {
  Sweep canonical = config.proto;
  canonical.clear_output();
  if (config.isa) canonical.set_isa(std::string(kernels::IsaName(*config.isa)));
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    canonical.SerializeToCodedStream(&coded);
  }
  // 64-bit FNV-1a: the same in every process and build, which absl::Hash (seeded per process)
  // is not.
  uint64_t hash = 0xcbf29ce484222325u;
  for (const unsigned char byte : bytes) {
    hash ^= byte;
    hash *= 0x100000001b3u;
  }
  return absl::StrFormat("%016x", hash);
}

}  // namespace fp4moe::experiments
