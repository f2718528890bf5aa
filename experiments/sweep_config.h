#ifndef FP4MOE_EXPERIMENTS_SWEEP_CONFIG_H_
#define FP4MOE_EXPERIMENTS_SWEEP_CONFIG_H_

// Reads a Sweep textproto (experiments/sweep.proto) and checks it, so that nothing runs on a
// config that would fail half way: every error names file:line:column.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "experiments/sweep.pb.h"
#include "kernels/microkernel.h"
#include "moe/moe_config.h"
#include "quant/format.h"
#include "quant/random_matrix.h"

namespace fp4moe::experiments {

enum class Measure { kGemm, kMoe };
enum class Projection { kUp, kDown };  // up: weights [intermediate, hidden]; down: transposed

std::string_view MeasureName(Measure measure);
std::string_view ProjectionName(Projection projection);

struct ModelShape {
  std::string name;
  int64_t hidden = 0;
  int64_t intermediate = 0;
  int64_t experts = 0;
  int top_k = 0;
  // The experts' activation (a preset's; models given by their numbers take SiLU).
  moe::ExpertActivation activation = moe::ExpertActivation::kSiluMul;
  float swiglu_limit = 7.0f;  // kClampedSwiglu only
  bool biases = false;  // the experts have biases (a preset's; random ones in the sweeps)
  std::vector<Measure> measures;  // empty: every measure of the sweep

  bool Takes(Measure measure) const;
};

// A preset of moe/model_presets.h by name.
absl::StatusOr<ModelShape> ModelPreset(std::string_view name);

struct WeightDistribution {
  std::string name;
  Distribution base;
  bool row_scale_spread = false;  // real_like: a log-normal scale per output row on top
};

// gaussian, heavy_tailed, outliers, real_like.
absl::StatusOr<WeightDistribution> ParseDistribution(std::string_view name);

struct FormatChoice {
  WeightFormat format;
  std::vector<int64_t> group_sizes;  // one entry (the format's block) for E2M1 formats
  std::vector<std::optional<kernels::GemmPath>> paths;  // nullopt: auto
};

// The config with names resolved and defaults filled in.
struct SweepConfig {
  Sweep proto;
  std::string name;
  std::vector<ModelShape> models;
  std::vector<FormatChoice> formats;
  std::vector<Measure> measures;
  std::vector<Projection> projections;
  std::vector<WeightDistribution> distributions;
  std::vector<int64_t> qlens;
  std::vector<int> threads;   // 0: all
  std::vector<int> tp_parts;
  std::vector<uint64_t> seeds;
  std::optional<kernels::Isa> isa;

  bool Runs(Measure measure, const ModelShape& model) const;
  int64_t max_qlen() const;
  // Experts a MoE case of `model` builds.
  int64_t moe_experts(const ModelShape& model) const;
};

// `file_name` only labels errors. InvalidArgument lists every error found, one per line.
absl::StatusOr<SweepConfig> ParseSweepConfig(std::string_view text, std::string_view file_name);
absl::StatusOr<SweepConfig> LoadSweepConfig(const std::string& path);

// 16 hex digits that identify what a sweep measures: a hash of its proto, serialized
// deterministically, with the ISA in force (--isa may override the config's) and without
// `output` (where the files go changes no result). Every row records it, so that merge can
// refuse shards of different configs.
std::string ConfigHash(const SweepConfig& config);

}  // namespace fp4moe::experiments

#endif  // FP4MOE_EXPERIMENTS_SWEEP_CONFIG_H_
