#include "io/quantize_model.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "files/input_files.h"
#include "files/output_directory.h"
#include "files/output_set.h"
#include "files/out_of_memory.h"
#include "io/checkpoint.h"
#include "io/gpt_oss_weights.h"
#include "io/model_folder.h"
#include "io/model_weights.h"
#include "io/quantize_checkpoint.h"
#include "io/safetensors.h"
#include "nlohmann/json.hpp"

namespace fp4moe::io {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kConfig[] = "config.json";
constexpr char kIndex[] = "model.safetensors.index.json";
constexpr char kHfQuantConfig[] = "hf_quant_config.json";
constexpr int64_t kMaxConfigBytes = int64_t{16} << 20;
constexpr absl::string_view kWeight = ".weight";
constexpr absl::string_view kFp8Scale = ".weight_scale_inv";

// `text` as a regex, nullopt where it is empty.
absl::StatusOr<std::optional<std::regex>> CompileNameRegex(const char* flag,
                                                           const std::string& text) {
  if (text.empty()) return std::nullopt;
  try {
    return std::regex(text, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s=%s is not a valid regular expression: %s", flag, text, e.what()));
  }
}

// Which weights are quantized: the routed experts' projections (gpt-oss: each MoE layer's
// fused gate_up_proj and down_proj), widened by --include and narrowed by --exclude.
class Selection {
 public:
  static absl::StatusOr<Selection> Make(const ModelConfig& config,
                                        const QuantizeModelOptions& options) {
    Selection s;
    for (const auto& [flag, text, regex] :
         {std::tuple("--include", options.include, &s.include_),
          std::tuple("--exclude", options.exclude, &s.exclude_)}) {
      absl::StatusOr<std::optional<std::regex>> compiled = CompileNameRegex(flag, text);
      if (!compiled.ok()) return compiled.status();
      *regex = *std::move(compiled);
    }
    for (int64_t layer = 0; layer < config.num_layers; ++layer) {
      if (!config.CheckMoeLayer(layer).ok()) continue;
      if (config.family == ModelFamily::kGptOss) {
        if (absl::Status status = s.AddFused(config, layer); !status.ok()) return status;
        continue;
      }
      for (int64_t e = 0; e < config.num_experts; ++e) {
        for (int p : {kGateProj, kUpProj, kDownProj}) {
          s.experts_.insert(config.ExpertName(layer, e, p) + std::string(kWeight));
        }
      }
    }
    return s;
  }

  // gpt-oss: the layer of a fused float expert tensor to quantize, nullopt for any other name.
  std::optional<FusedFloatExperts> Fused(const std::string& name) const {
    const auto it = fused_.find(name);
    if (it == fused_.end()) return std::nullopt;
    return it->second;
  }
  // gpt-oss: the fused expert tensors --exclude keeps in float.
  bool FusedKept(const std::string& name) const { return fused_kept_.count(name) > 0; }

  // Whether `name` is asked for. `matrix`: whether it is a 2-D tensor of a dtype that can be
  // quantized; --include picks only those (it may match norms, biases and the like), while an
  // expert's projection that is not one is an error, reported by the reader.
  bool Quantize(const std::string& name, bool matrix) const {
    if (!absl::EndsWith(name, kWeight)) return false;
    if (exclude_ && std::regex_match(name, *exclude_)) return false;
    return experts_.count(name) > 0 || (matrix && include_ && std::regex_match(name, *include_));
  }
  // By name only, for FP8 block scales, which go with a weight quantized (in any shard).
  bool MaybeQuantized(const std::string& name) const { return Quantize(name, true); }

 private:
  // A layer's two fused tensors are quantized together or not at all: the reader takes one
  // layout per layer.
  absl::Status AddFused(const ModelConfig& config, int64_t layer) {
    const std::string prefix = config.FusedExpertsName(layer);
    const std::string gate_up = prefix + ".gate_up_proj", down = prefix + ".down_proj";
    const bool kept = exclude_ && std::regex_match(gate_up, *exclude_);
    if (kept != (exclude_ && std::regex_match(down, *exclude_))) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--exclude matches one of '%s' and '%s' only: a gpt-oss layer's fused experts are "
          "quantized together or kept together",
          gate_up, down));
    }
    for (const auto& [name, is_gate_up] : {std::pair(gate_up, true), std::pair(down, false)}) {
      if (kept) {
        fused_kept_.insert(name);
      } else {
        fused_[name] = FusedFloatExperts{"", nullptr, layer, is_gate_up};
      }
    }
    return absl::OkStatus();
  }

  std::set<std::string> experts_;
  std::map<std::string, FusedFloatExperts> fused_;
  std::set<std::string> fused_kept_;
  std::optional<std::regex> include_, exclude_;
};

std::string BaseName(absl::string_view name, absl::string_view suffix) {
  return std::string(name.substr(0, name.size() - suffix.size()));
}

// OUTDIR inside DIR would make it one of the folder's files the next time it is read.
absl::Status CheckOutputOutsideModel(const std::string& model, const std::string& output) {
  std::error_code error;
  const fs::path m = fs::weakly_canonical(model, error);
  if (error) return absl::InvalidArgumentError(absl::StrFormat("cannot resolve %s", model));
  const fs::path o = fs::weakly_canonical(output, error);
  if (error) return absl::InvalidArgumentError(absl::StrFormat("cannot resolve %s", output));
  auto mi = m.begin(), oi = o.begin();
  for (; mi != m.end() && oi != o.end() && *mi == *oi; ++mi, ++oi) {
  }
  if (mi == m.end() || (mi->empty() && std::next(mi) == m.end())) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--output=%s is the model folder %s or inside it: refusing to write there", output,
        model));
  }
  return absl::OkStatus();
}

// What readers of these files take from them (checked against their sources):
// - vLLM (ModelOptNvFp4Config) reads config.json's quantization_config when there is one,
//   else hf_quant_config.json. From config.json: quant_method (must start with "modelopt"),
//   quant_algo, group_size, ignore (the modules left unquantized, matched exactly, as
//   substrings or as wildcards) and kv_cache_scheme; from hf_quant_config.json's
//   "quantization": quant_algo, group_size, exclude_modules and kv_cache_quant_algo, all four
//   required for NVFP4. quant_algo "NVFP4" is W4A4 and needs calibrated activation scales
//   (input_scale) that fp4moe does not write; "W4A16_NVFP4", weights only, runs without them.
// - SGLang's ModelOpt configs read hf_quant_config.json's "quantization" (quant_algo,
//   group_size, exclude_modules, kv_cache_quant_algo); neither reads "producer".
// - compressed-tensors (and vLLM's CompressedTensorsConfig) validate config.json's
//   quantization_config: quant_method, format, quantization_status, ignore, config_groups
//   of targets / weights / input_activations / output_activations, and weights holding only
//   QuantizationArgs fields (num_bits, type, symmetric, group_size, strategy, dynamic,
//   actorder, ...; extra fields are refused there).
// - transformers' gpt-oss loader reads quant_method "mxfp4" and modules_to_not_convert.
constexpr char kModeloptAlgo[] = "W4A16_NVFP4";
constexpr int kNvfp4Group = 16;

json QuantizationConfig(const QuantizeModelOptions& options,
                        const std::vector<std::string>& unquantized) {
  switch (options.format) {
    case WeightFormat::kNvfp4:
      return {{"quant_method", "modelopt"},
              {"quant_algo", kModeloptAlgo},
              {"group_size", kNvfp4Group},
              {"kv_cache_scheme", nullptr},
              {"ignore", unquantized}};
    case WeightFormat::kInt4K2:
      // compressed-tensors' symmetric pack-quantized INT4, as Kimi-K2-Thinking ships.
      return {{"quant_method", "compressed-tensors"},
              {"format", "pack-quantized"},
              {"quantization_status", "compressed"},
              {"kv_cache_scheme", nullptr},
              {"config_groups",
               {{"group_0",
                 {{"targets", json::array({"Linear"})},
                  {"weights",
                   {{"num_bits", 4},
                    {"type", "int"},
                    {"symmetric", true},
                    {"group_size", options.group_size},
                    {"strategy", "group"},
                    {"dynamic", false},
                    {"actorder", nullptr}}},
                  {"input_activations", nullptr},
                  {"output_activations", nullptr}}}}},
              {"ignore", unquantized}};
    default:
      // gpt-oss's.
      return {{"quant_method", "mxfp4"}, {"modules_to_not_convert", unquantized}};
  }
}

// Model Optimizer's own file beside config.json, for NVFP4.
json HfQuantConfig(const std::vector<std::string>& unquantized) {
  return {{"producer", {{"name", "fp4moe"}}},
          {"quantization",
           {{"quant_algo", kModeloptAlgo},
            {"group_size", kNvfp4Group},
            {"kv_cache_quant_algo", nullptr},
            {"exclude_modules", unquantized}}}};
}

struct Progress {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  int64_t total = 0, done = 0, quantized = 0;

  void Report(const std::string& shard, int index, int shards) const {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double eta = done > 0 ? elapsed * static_cast<double>(total - done) / done : 0.0;
    std::fprintf(stderr,
                 "quantize: shard %d/%d %s: tensors %lld/%lld done (%lld quantized), %.1f s so "
                 "far, about %.1f s left\n",
                 index, shards, shard.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total), static_cast<long long>(quantized), elapsed, eta);
  }
};

// One shard of the output: what it holds, for the index.
struct ShardWritten {
  std::vector<std::string> names;
  int64_t data_bytes = 0;
};

absl::StatusOr<ShardWritten> QuantizeShard(ModelFolder& folder, const std::string& first_name,
                                           const Selection& selection,
                                           const QuantizeModelOptions& options,
                                           const std::string& out_path,
                                           std::vector<std::string>& unquantized,
                                           Progress& progress) {
  absl::StatusOr<const SafetensorsFile*> file = folder.ShardOf(first_name);
  if (!file.ok()) return file.status();
  SafetensorsWriter writer;
  for (const auto& [key, value] : (*file)->metadata()) writer.SetMetadata(key, value);
  // Finding the weights opens shards, which only one thread may do; reading and quantizing
  // them is what takes the time, and runs in parallel.
  std::vector<StoredWeight> weights;
  std::vector<FusedFloatExperts> fused;
  for (const std::string& name : (*file)->names()) {
    const TensorView& t = **(*file)->Get(name);
    if (std::optional<FusedFloatExperts> f = selection.Fused(name)) {
      f->path = (*file)->path();
      f->tensor = &t;
      if (absl::Status s = CheckFusedFloat(folder.config(), *f); !s.ok()) return s;
      fused.push_back(*std::move(f));
      continue;
    }
    if (selection.FusedKept(name)) unquantized.push_back(name.substr(0, name.rfind('.')));
    if (selection.Quantize(name, IsQuantizableMatrix(t, /*allow_fp8=*/true))) {
      absl::StatusOr<StoredWeight> w = FindWeight(folder, BaseName(name, kWeight));
      if (!w.ok()) return w.status();
      weights.push_back(*std::move(w));
      continue;
    }
    if (absl::EndsWith(name, kFp8Scale) &&
        selection.MaybeQuantized(BaseName(name, kFp8Scale) + std::string(kWeight))) {
      ++progress.done;  // dequantized into its weight
      continue;
    }
    if (absl::EndsWith(name, kFp8Scale) && folder.config().fp8_block != ModelConfig().fp8_block) {
      // config.json's FP8 quantization_config, which gave the block, is replaced: readers
      // would assume the default.
      return absl::UnimplementedError(absl::StrFormat(
          "%s: FP8 weight '%s' is not quantized and its blocks are %d x %d, which the new "
          "config.json could not tell: quantize it too (--include) or use 128 x 128 blocks",
          (*file)->path(), BaseName(name, kFp8Scale), folder.config().fp8_block[0],
          folder.config().fp8_block[1]));
    }
    if (absl::EndsWith(name, kWeight) && t.shape.size() == 2) {
      unquantized.push_back(BaseName(name, kWeight));
    }
    if (absl::Status s = writer.AddCopy(t); !s.ok()) return s;
    ++progress.done;
  }
  std::vector<absl::StatusOr<moe::QuantizedTensor>> results(weights.size(),
                                                            absl::UnknownError("not run"));
  const std::array<int64_t, 2> fp8_block = folder.config().fp8_block;
  const int threads = options.threads > 0 ? options.threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t i = 0; i < static_cast<int64_t>(weights.size()); ++i) {
    // No exception may leave an OpenMP loop: a std::bad_alloc would abort the process.
    results[i] = files::CatchOutOfMemory(
        [&] {
          return files::StrFormatOrBadAlloc("%s: loading and quantizing weight '%s'",
                                            weights[i].file->path(), weights[i].name);
        },
        [&] { return LoadWeightAs(weights[i], options.format, options.group_size, fp8_block); });
  }
  for (size_t i = 0; i < weights.size(); ++i) {
    if (!results[i].ok()) return results[i].status();
    if (absl::Status s = AddQuantized(weights[i].name, *results[i], writer); !s.ok()) return s;
    results[i] = absl::UnknownError("written");  // frees it
  }
  // gpt-oss's fused experts, one expert of one tensor per task.
  const int64_t experts = folder.config().num_experts;
  std::vector<absl::StatusOr<std::vector<moe::QuantizedTensor>>> fused_results(
      fused.size() * experts, absl::UnknownError("not run"));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t i = 0; i < static_cast<int64_t>(fused_results.size()); ++i) {
    const FusedFloatExperts& tensor = fused[i / experts];
    fused_results[i] = files::CatchOutOfMemory(
        [&] {
          return files::StrFormatOrBadAlloc("%s: quantizing tensor '%s' expert %d",
                                            tensor.path, tensor.tensor->name, i % experts);
        },
        [&] {
          return QuantizeFusedExpert(tensor, i % experts, options.format, options.group_size);
        });
  }
  for (size_t f = 0; f < fused.size(); ++f) {
    std::vector<std::vector<moe::QuantizedTensor>> quantized;
    for (int64_t e = 0; e < experts; ++e) {
      absl::StatusOr<std::vector<moe::QuantizedTensor>>& result = fused_results[f * experts + e];
      if (!result.ok()) return result.status();
      quantized.push_back(*std::move(result));
    }
    if (absl::Status s =
            AddFusedExperts(folder.config(), fused[f], options.format, quantized, writer);
        !s.ok()) {
      return s;
    }
  }
  const int64_t tensors_quantized = static_cast<int64_t>(weights.size() + fused.size());
  progress.done += tensors_quantized;
  progress.quantized += tensors_quantized;
  if (absl::Status s = writer.Write(out_path); !s.ok()) return s;
  // The index lists what the shard holds as written.
  absl::StatusOr<SafetensorsFile> written = SafetensorsFile::Open(out_path);
  if (!written.ok()) return written.status();
  ShardWritten result;
  result.names = written->names();
  for (const std::string& name : result.names) {
    result.data_bytes += static_cast<int64_t>((*written->Get(name))->bytes.size());
  }
  return result;
}

// Every file of the folder but its config, index and shards, which are written anew, and a
// Model Optimizer hf_quant_config.json, which would describe the source's quantization.
absl::Status CopyOtherFiles(const ModelFolder& folder, const std::string& to) {
  std::set<std::string> skip = {kConfig, kIndex, kHfQuantConfig};
  for (const auto& [shard, names] : folder.names_by_shard()) skip.insert(shard);
  std::error_code error;
  for (fs::directory_iterator it(folder.dir(), error), end; !error && it != end;
       it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (skip.count(name) > 0) continue;
    fs::copy(it->path(), fs::path(to) / name, fs::copy_options::recursive, error);
    if (error) {
      return absl::ErrnoToStatus(error.value(), absl::StrFormat("cannot copy %s to %s",
                                                                it->path().string(), to));
    }
  }
  if (error) {
    return absl::ErrnoToStatus(error.value(), absl::StrFormat("cannot list %s", folder.dir()));
  }
  return absl::OkStatus();
}

// config.json with the format's quantization_config, and for NVFP4 hf_quant_config.json.
absl::Status WriteConfigs(const ModelFolder& folder, const QuantizeModelOptions& options,
                          std::vector<std::string> unquantized, const std::string& to) {
  const std::string path = (fs::path(folder.dir()) / kConfig).string();
  absl::StatusOr<std::string> text = files::ReadRegularFile(path, "model config", kMaxConfigBytes);
  if (!text.ok()) return text.status();
  json config = json::parse(*text);  // ModelFolder::Open parsed it already
  std::sort(unquantized.begin(), unquantized.end());
  unquantized.erase(std::unique(unquantized.begin(), unquantized.end()), unquantized.end());
  config["quantization_config"] = QuantizationConfig(options, unquantized);
  if (absl::Status s =
          files::WriteWholeFile((fs::path(to) / kConfig).string(), config.dump(2) + "\n");
      !s.ok() || options.format != WeightFormat::kNvfp4) {
    return s;
  }
  return files::WriteWholeFile((fs::path(to) / kHfQuantConfig).string(),
                               HfQuantConfig(unquantized).dump(2) + "\n");
}

}  // namespace

absl::Status CheckQuantizeModelOptions(const QuantizeModelOptions& options) {
  if (options.format != WeightFormat::kNvfp4 && options.format != WeightFormat::kMxfp4 &&
      options.format != WeightFormat::kInt4K2) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--format=%s has no checkpoint naming: use nvfp4, mxfp4 or int4_k2",
        TraitsOf(options.format).name));
  }
  if (options.format == WeightFormat::kInt4K2 &&
      (options.group_size <= 0 || options.group_size % 2 != 0)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--group_size=%d: INT4 K2 groups must be positive and even (whole bytes of codes)",
        options.group_size));
  }
  for (const auto& [flag, text] :
       {std::pair("--include", options.include), std::pair("--exclude", options.exclude)}) {
    if (absl::StatusOr<std::optional<std::regex>> compiled = CompileNameRegex(flag, text);
        !compiled.ok()) {
      return compiled.status();
    }
  }
  if (options.threads < 0) {
    return absl::InvalidArgumentError(absl::StrFormat("--threads=%d < 0", options.threads));
  }
  return absl::OkStatus();
}

absl::Status QuantizeModel(const QuantizeModelOptions& options) {
  if (absl::Status s = CheckQuantizeModelOptions(options); !s.ok()) return s;
  if (absl::Status s = CheckOutputOutsideModel(options.model, options.output); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<ModelFolder>> folder = ModelFolder::Open(options.model);
  if (!folder.ok()) return folder.status();
  std::vector<std::string> all = (*folder)->NamesWithPrefix("");
  if (absl::Status s = CheckNotQuantized(all, (*folder)->weights_path(), /*allow_fp8=*/true);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<Selection> selection = Selection::Make((*folder)->config(), options);
  if (!selection.ok()) return selection.status();
  absl::StatusOr<std::unique_ptr<files::OutputDirectory>> out =
      files::OutputDirectory::Create(options.output);
  if (!out.ok()) return out.status();
  const std::string& temp = (*out)->temp_path();

  Progress progress;
  progress.total = static_cast<int64_t>(all.size());
  json weight_map = json::object();
  int64_t total_size = 0;
  std::vector<std::string> unquantized;
  const auto& shards = (*folder)->names_by_shard();
  int index = 0;
  for (const auto& [shard, names] : shards) {
    absl::StatusOr<ShardWritten> written =
        QuantizeShard(**folder, names.front(), *selection, options,
                      (fs::path(temp) / shard).string(), unquantized, progress);
    if (!written.ok()) return written.status();
    for (const std::string& name : written->names) weight_map[name] = shard;
    total_size += written->data_bytes;
    progress.Report(shard, ++index, static_cast<int>(shards.size()));
  }
  if ((*folder)->indexed()) {
    const json index_json = {{"metadata", {{"total_size", total_size}}},
                             {"weight_map", weight_map}};
    if (absl::Status s =
            files::WriteWholeFile((fs::path(temp) / kIndex).string(), index_json.dump(2) + "\n");
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = WriteConfigs(**folder, options, unquantized, temp); !s.ok()) return s;
  if (absl::Status s = CopyOtherFiles(**folder, temp); !s.ok()) return s;
  return (*out)->Commit();
}

}  // namespace fp4moe::io
