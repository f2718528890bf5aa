// Latency and throughput of the whole MoE layer on real model shapes, with its roofline.
//
//   bazel run -c opt //benchmarks:moe_benchmark -- [--models=...] [--formats=...] [--qlens=...]
//
// Each (model, format) runs the layer's auto path, or each path --paths forces, and with
// --tile_kernels also each named kernel of its tile kernel's path in its place; the label names
// the kernels the calls ran (the tile kernel, the GEMV kernel of products with fewer rows than
// its min_m, or both joined by '+').
// Weights: one expert's random floats are quantized once and its tensors given for every expert;
// the layer packs each into its own memory, so every expert has its own bytes in DRAM. Weights
// stream from DRAM: enough layer instances to exceed --stream_bytes (default 4 GiB; 1 GiB, 3.4 x a
// 300 MB L3, still let part of a rotation come from L3 on the Xeon) are visited in turn, and the
// routings walk the experts cyclically (see MakeRoutings), so an expert's bytes come back only
// after all the others'. Routing is random top-k per token from a fixed seed. Counters: tokens=x/s,
// GB=x/s (weight bytes of the distinct experts an iteration touches), GFLOP=x/s (2 * qlen * k * 3 *
// hidden * intermediate), mem_ms / cmp_ms (the roofs: those bytes at the measured bandwidth, those
// operations at the peak of the tile kernel where it ran, else of the GEMV kernel) and roof=x/s
// (the larger roof over the measured time: 1 means on the roof).
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "benchmark/benchmark.h"
#include "benchmarks/benchmark_helpers.h"
#include "benchmarks/ceiling_kernels.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm.h"
#include "kernels/microkernel_table.h"
#include "kernels/peak_probe.h"
#include "kernels/bandwidth_probe.h"
#include "kernels/roofline.h"
#include "kernels/vector_probe.h"
#include "benchmarks/roofline_flags.h"
#include "moe/expert_weights.h"
#include "moe/model_presets.h"
#include "moe/moe.h"
#include "moe/moe_config.h"
#include "quant/format.h"
#include "quant/random_matrix.h"

ABSL_FLAG(std::vector<std::string>, models,
          std::vector<std::string>({"deepseek_v3", "qwen3_30b_a3b", "mixtral"}),
          "models (moe/model_presets.h: deepseek_v3, qwen3_30b_a3b, mixtral, gpt_oss_120b)");
ABSL_FLAG(std::vector<std::string>, formats, std::vector<std::string>({"nvfp4", "int4_k2"}),
          "weight formats (INT4 K2 with G=32)");
ABSL_FLAG(std::vector<std::string>, qlens,
          std::vector<std::string>({"1", "8", "64", "512", "4096"}), "tokens per Forward call");
ABSL_FLAG(int64_t, max_len, 0, "the layer's max_len (0: the largest qlen)");
ABSL_FLAG(int, tp_parts, 1, "tensor-parallel parts of the layer");
ABSL_FLAG(int, layers, 0,
          "layer instances visited in turn (0: enough for their weights to exceed "
          "--stream_bytes)");
ABSL_FLAG(int64_t, stream_bytes, int64_t{4} << 30,
          "weight bytes the layer instances should total when --layers=0");
ABSL_FLAG(int, routings, 16, "different routings rotated per layer instance");
ABSL_FLAG(int64_t, bandwidth_probe_bytes, int64_t{2} << 30, "bytes the bandwidth probe reads");
ABSL_FLAG(std::string, isa, "", "force one ISA instead of the best native one");
ABSL_FLAG(std::vector<std::string>, paths, std::vector<std::string>({"auto"}),
          "auto (the layer picks per product's rows) or GEMM paths forced for every product, "
          "run for each format they take (e.g. auto,w4a16,int4_w4a16 compares the crossovers)");
ABSL_FLAG(std::vector<std::string>, tile_kernels, {},
          "kernels by name (compared variants, another ISA's kernel, the ceilings of "
          "benchmarks/ceiling_kernels.h) also run as the tile kernel of every layer whose tile "
          "kernel has their path, on the same layer instances: with "
          "--benchmark_enable_random_interleaving one process measures the layer both ways "
          "(give one model and format, so that the instances are built once)");
ABSL_FLAG(int, threads, 0, "OpenMP threads and the layer's num_threads (0: all)");
ABSL_FLAG(std::vector<std::string>, prefill_slice_columns, {},
          "MoeConfig::prefill_slice_columns values, each a layer of its own (default: the "
          "config's default)");

namespace fp4moe::moe {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The layer instances of one (model, format) and the input rows they all read. Building them
// takes seconds to minutes, so one set serves all of that pair's qlens; only one set lives at
// a time, which bounds memory by the largest model.
struct LayerSet {
  std::string key;
  std::vector<std::unique_ptr<MoeLayer>> layers;
  RowMatrixXf input;  // [max_len, hidden]
  std::vector<float> output;
  const kernels::Microkernel* selected_tile_kernel = nullptr;  // as Create chose it
};

// `biases`: every expert gets the same random biases.
absl::StatusOr<LayerSet*> Layers(const std::string& key, const MoeConfig& config, bool biases) {
  static LayerSet* current = new LayerSet;
  if (current->key == key) return current;
  *current = LayerSet();  // the previous model's memory goes before the next is allocated
  const auto start = std::chrono::steady_clock::now();
  const int64_t hidden = config.hidden_size, inter = config.intermediate_size;
  absl::StatusOr<ExpertQuantizedWeights> one = QuantizeExpert(
      config, 0,
      {RandomMatrix(inter, hidden, 1, Distribution::kGaussian, 1 / std::sqrt(float(hidden))),
       RandomMatrix(inter, hidden, 2, Distribution::kGaussian, 1 / std::sqrt(float(hidden))),
       RandomMatrix(hidden, inter, 3, Distribution::kGaussian, 1 / std::sqrt(float(inter)))});
  if (!one.ok()) return one.status();
  // Create takes every expert's tensors; they are copies of the one expert's (this holds a
  // second copy of the layer's weights until the layers are built).
  std::vector<ExpertQuantizedWeights> experts(config.expert_num);
#pragma omp parallel for schedule(static)
  for (int64_t e = 0; e < config.expert_num; ++e) experts[e] = *one;
  std::vector<ExpertBiases> expert_biases;
  if (biases) expert_biases.assign(config.expert_num, RandomExpertBiases(hidden, inter, 4));
  LayerSet set;
  int64_t layer_bytes = 0;
  int count = absl::GetFlag(FLAGS_layers);
  do {
    absl::StatusOr<std::unique_ptr<MoeLayer>> layer =
        MoeLayer::Create(config, experts, expert_biases);
    if (!layer.ok()) return layer.status();
    if (set.layers.empty()) {
      for (int64_t e = 0; e < config.expert_num; ++e) {
        layer_bytes += (*layer)->expert_streamed_bytes(e);
      }
      if (count <= 0) {
        count = static_cast<int>(std::max<int64_t>(
            1, (absl::GetFlag(FLAGS_stream_bytes) + layer_bytes - 1) / layer_bytes));
      }
    }
    set.layers.push_back(*std::move(layer));
  } while (static_cast<int>(set.layers.size()) < count);
  set.input = RandomMatrix(config.max_len, hidden, 4);
  set.output.resize(config.max_len * hidden);
  set.key = key;
  set.selected_tile_kernel = &set.layers[0]->kernel();
  const double total = static_cast<double>(layer_bytes) * count;
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  std::printf("%s: %d layer(s) x %.2f GB of weights = %.2f GB, L3 %s: %s; built in %.1f s\n",
              key.c_str(), count, layer_bytes / 1e9, total / 1e9,
              l3 > 0 ? absl::StrFormat("%.0f MB", l3 / 1e6).c_str() : "unknown",
              l3 <= 0        ? "regime unknown"
              : total > 3 * l3 ? "weights stream from DRAM"
                               : "weights partly cache-resident (raise --stream_bytes)",
              SecondsSince(start));
  std::fflush(stdout);
  *current = std::move(set);
  return current;
}

struct Routing {
  std::vector<int64_t> ids;   // [qlen, k]
  std::vector<float> weights;  // [qlen, k]
  int64_t distinct = 0;
};

// Random top-k routings: each token draws k distinct experts uniformly and positive weights
// summing to 1. The experts a routing uses are then relabelled, in order of first use, to the
// next ones of a cyclic walk over a random permutation of all experts, continued from one
// routing to the next. Experts are exchangeable, so each routing is still an independent
// random one, but an expert comes back only after all others have been used: with random
// labels a decode step would often reuse an expert a recent step left in L3 (Qwen3 touches 8
// of 128 experts, 21 MB, per token).
std::vector<Routing> MakeRoutings(int count, int64_t qlen, int k, int64_t experts) {
  std::mt19937_64 rng(5);
  std::vector<int64_t> walk(experts), pool(experts), label(experts);
  std::iota(walk.begin(), walk.end(), 0);
  std::shuffle(walk.begin(), walk.end(), rng);
  std::iota(pool.begin(), pool.end(), 0);
  std::uniform_real_distribution<float> weight(0.05f, 1.0f);
  int64_t next = 0;
  std::vector<Routing> routings(count);
  for (Routing& r : routings) {
    r.ids.resize(qlen * k);
    r.weights.resize(qlen * k);
    std::fill(label.begin(), label.end(), -1);
    for (int64_t t = 0; t < qlen; ++t) {
      float sum = 0;
      for (int j = 0; j < k; ++j) {
        // A partial Fisher-Yates step: pool stays a permutation, its first k a uniform draw.
        std::swap(pool[j], pool[std::uniform_int_distribution<int64_t>(j, experts - 1)(rng)]);
        const int64_t e = pool[j];
        if (label[e] < 0) {
          label[e] = walk[next];
          next = (next + 1) % experts;
          ++r.distinct;
        }
        r.ids[t * k + j] = label[e];
        r.weights[t * k + j] = weight(rng);
        sum += r.weights[t * k + j];
      }
      for (int j = 0; j < k; ++j) r.weights[t * k + j] /= sum;
    }
  }
  return routings;
}

// One (model, format, path) at qlen, its layers' tile kernel `tile_kernel` (null: the one
// Create chose).
void RunMoe(benchmark::State& state, const ModelPreset& model, const std::string& key,
            const MoeConfig& config, int64_t qlen, const kernels::Microkernel* tile_kernel,
            double bandwidth, const kernels::PeakRates& peaks) {
  absl::StatusOr<LayerSet*> set = Layers(key, config, model.biases);
  if (!set.ok()) {
    state.SkipWithError(std::string(set.status().message()).c_str());
    return;
  }
  const std::vector<std::unique_ptr<MoeLayer>>& layers = (*set)->layers;
  const kernels::Microkernel& used_tile_kernel =
      tile_kernel != nullptr ? *tile_kernel : *(*set)->selected_tile_kernel;
  for (const std::unique_ptr<MoeLayer>& layer : layers) {
    if (absl::Status s = layer->UseTileKernel(used_tile_kernel); !s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
  }
  const int k = model.top_k;
  const std::vector<Routing> routings =
      MakeRoutings(absl::GetFlag(FLAGS_routings), qlen, k, model.experts);
  std::vector<double> touched_bytes;
  for (const Routing& r : routings) {
    std::vector<bool> seen(model.experts);
    double bytes = 0;
    for (int64_t e : r.ids) {
      if (!seen[e]) bytes += layers[0]->expert_streamed_bytes(e);
      seen[e] = true;
    }
    touched_bytes.push_back(bytes);
  }
  const float* input = (*set)->input.data();
  float* output = (*set)->output.data();
  double bytes = 0;
  int64_t iteration = 0;
  MoeLayer::KernelsUsed used;
  for (auto _ : state) {
    // Each instance takes the routings in order, so its walk over the experts continues.
    const size_t l = iteration % layers.size();
    const size_t r = (iteration / layers.size()) % routings.size();
    ++iteration;
    const Routing& routing = routings[r];
    if (absl::Status s = layers[l]->Forward(qlen, k, routing.ids.data(),
                                            routing.weights.data(), input, output);
        !s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
    bytes += touched_bytes[r];
    used.Add(layers[l]->last_kernels_used());
  }
  bytes /= std::max<int64_t>(1, iteration);
  const double ops = 2.0 * qlen * k * 3 * model.hidden * model.intermediate;
  const MoeLayer& layer = *layers[0];
  const kernels::Microkernel& roof_kernel = layer.RoofKernel(used);
  state.counters["tokens"] =
      benchmark::Counter(qlen, benchmark::Counter::kIsIterationInvariantRate);
  kernels::SetRooflineCounters(state, bytes, ops, bandwidth,
                               kernels::PeakFor(peaks, roof_kernel.path, roof_kernel.isa));
  state.SetLabel(layer.KernelsLabel(used));
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "moe_benchmark: %s\n", message.c_str());
  return 1;
}

int Main(int argc, char** argv) {
  if (absl::Status s = kernels::CheckBenchmarkRepetitions(argc, argv); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  benchmark::Initialize(&argc, argv);
  absl::ParseCommandLine(argc, argv);
  absl::Status flags = kernels::CheckCommonFlagsAndSetThreads(
      absl::GetFlag(FLAGS_threads), absl::GetFlag(FLAGS_stream_bytes),
      absl::GetFlag(FLAGS_bandwidth_probe_bytes));
  if (flags.ok()) flags = kernels::CheckPeakRateFlags();
  if (!flags.ok()) return Fail(std::string(flags.message()));
  // Bounds far above any real run, low enough that nothing they count overflows.
  for (const auto& [flag, value, min, max] :
       {std::tuple("layers", int64_t{absl::GetFlag(FLAGS_layers)}, 0, int64_t{1} << 16),
        std::tuple("routings", int64_t{absl::GetFlag(FLAGS_routings)}, 1, int64_t{1} << 16),
        std::tuple("max_len", absl::GetFlag(FLAGS_max_len), 0, int64_t{1} << 40)}) {
    if (absl::Status s = kernels::CheckFlagRange(flag, value, min, max); !s.ok()) {
      return Fail(std::string(s.message()));
    }
  }
  std::optional<kernels::Isa> isa;
  if (!absl::GetFlag(FLAGS_isa).empty()) {
    absl::StatusOr<kernels::Isa> parsed = kernels::ParseIsa(absl::GetFlag(FLAGS_isa));
    if (!parsed.ok()) return Fail(std::string(parsed.status().message()));
    isa = *parsed;
  }
  absl::StatusOr<std::vector<int64_t>> qlens =
      kernels::PositiveIntegers("qlen", absl::GetFlag(FLAGS_qlens));
  if (!qlens.ok()) return Fail(std::string(qlens.status().message()));
  if (qlens->empty()) return Fail("no qlens");
  // 0: the config's default, unnamed in the case's key.
  absl::StatusOr<std::vector<int64_t>> slice_widths = kernels::PositiveIntegers(
      "--prefill_slice_columns", absl::GetFlag(FLAGS_prefill_slice_columns));
  if (!slice_widths.ok()) return Fail(std::string(slice_widths.status().message()));
  if (slice_widths->empty()) slice_widths->push_back(0);
  const int64_t max_len = absl::GetFlag(FLAGS_max_len) > 0
                              ? absl::GetFlag(FLAGS_max_len)
                              : *std::max_element(qlens->begin(), qlens->end());
  if (*std::max_element(qlens->begin(), qlens->end()) > max_len) {
    return Fail(absl::StrFormat("a qlen exceeds --max_len=%d", max_len));
  }
  for (const std::string& model_name : absl::GetFlag(FLAGS_models)) {
    const ModelPreset* model = FindModelPreset(model_name);
    if (model == nullptr) {
      return Fail(absl::StrFormat("unknown model '%s' (%s)", model_name, ModelPresetNames()));
    }
    // The input and output rows [max_len, hidden], then the routings' ids and weights.
    if (absl::Status s = kernels::CheckFitsMemory(
            absl::StrFormat("--max_len=%d rows of %s", max_len, model->name),
            {max_len, model->hidden, 2}, sizeof(float));
        !s.ok()) {
      return Fail(std::string(s.message()));
    }
    if (absl::Status s = kernels::CheckFitsMemory(
            absl::StrFormat("--routings=%d of %d tokens", absl::GetFlag(FLAGS_routings),
                            max_len),
            {absl::GetFlag(FLAGS_routings), max_len, model->top_k},
            sizeof(int64_t) + sizeof(float));
        !s.ok()) {
      return Fail(std::string(s.message()));
    }
  }
  // nullopt: auto.
  std::vector<std::optional<kernels::GemmPath>> forced_paths;
  for (const std::string& name : absl::GetFlag(FLAGS_paths)) {
    if (name == "auto") {
      forced_paths.push_back(std::nullopt);
      continue;
    }
    absl::StatusOr<kernels::GemmPath> path = kernels::ParsePath(name);
    if (!path.ok()) return Fail(std::string(path.status().message()));
    forced_paths.push_back(*path);
  }
  if (forced_paths.empty()) return Fail("no paths");
  std::vector<std::pair<std::string, WeightFormat>> formats;
  for (const std::string& name : absl::GetFlag(FLAGS_formats)) {
    absl::StatusOr<WeightFormat> format = ParseWeightFormat(name);
    if (!format.ok()) return Fail(std::string(format.status().message()));
    formats.emplace_back(name, *format);
  }
  for (const std::optional<kernels::GemmPath>& forced : forced_paths) {
    if (!forced.has_value()) continue;
    bool taken = false;
    for (const auto& [name, format] : formats) {
      taken = taken || kernels::PathTakesFormat(*forced, format);
    }
    if (!taken) {
      return Fail(absl::StrFormat("path %s takes none of --formats", kernels::PathName(*forced)));
    }
  }
  std::vector<const kernels::Microkernel*> tile_kernels;
  for (const std::string& name : absl::GetFlag(FLAGS_tile_kernels)) {
    // A ceiling runs the layer with part of its tile kernel's work left out: the layer's output
    // is then not its product, only its time means something.
    absl::StatusOr<const kernels::Microkernel*> kernel = kernels::FindMicrokernel(name);
    if (const kernels::Microkernel* ceiling = kernels::FindCeiling(name)) kernel = ceiling;
    if (!kernel.ok()) return Fail(std::string(kernel.status().message()));
    if (!kernels::CanRun(**kernel, kernels::DetectedCpuFeatures())) {
      return Fail(absl::StrFormat("this CPU cannot run %s", name));
    }
    tile_kernels.push_back(*kernel);
  }
  // The (model, format, path) layers to run, checked before anything is measured.
  struct LayerCase {
    const ModelPreset* model;
    std::string key;
    MoeConfig config;
    kernels::GemmPath path;  // of its tile kernel
  };
  std::vector<LayerCase> cases;
  std::vector<bool> tile_kernel_runs(tile_kernels.size());
  for (const std::string& model_name : absl::GetFlag(FLAGS_models)) {
    const ModelPreset* model = FindModelPreset(model_name);  // checked above
    for (const auto& [format_name, format] : formats) {
      for (const std::optional<kernels::GemmPath>& forced : forced_paths) {
        if (forced.has_value() && !kernels::PathTakesFormat(*forced, format)) continue;
        for (int64_t slice_width : *slice_widths) {
          MoeConfig config;
          config.expert_num = model->experts;
          config.num_experts_per_tok = model->top_k;
          config.hidden_size = model->hidden;
          config.intermediate_size = model->intermediate;
          config.activation = model->activation;
          config.swiglu_limit = model->swiglu_limit;
          config.max_len = max_len;
          config.weight_format = format;
          config.group_size = 32;
          config.isa = isa;
          config.num_threads = omp_get_max_threads();
          config.tp_parts = absl::GetFlag(FLAGS_tp_parts);
          config.path = forced;
          if (slice_width > 0) config.prefill_slice_columns = slice_width;
          if (absl::Status s = config.Validate(); !s.ok()) return Fail(std::string(s.message()));

          absl::StatusOr<kernels::GemmPath> path = ResolvePath(config);
          if (!path.ok()) return Fail(std::string(path.status().message()));
          for (size_t i = 0; i < tile_kernels.size(); ++i) {
            tile_kernel_runs[i] = tile_kernel_runs[i] || tile_kernels[i]->path == *path;
          }
          // Named by the path forced, or "auto" (its kernels follow each result), and the slice
          // width given.
          const std::string slices =
              slice_width > 0 ? absl::StrFormat("/slices=%d", slice_width) : "";
          cases.push_back({model,
                           absl::StrFormat("%s/%s/%s%s", model->name, format_name,
                                           forced.has_value() ? kernels::PathName(*forced)
                                                              : "auto",
                                           slices),
                           config, *path});
        }
      }
    }
  }
  for (size_t i = 0; i < tile_kernels.size(); ++i) {
    if (!tile_kernel_runs[i]) {
      return Fail(absl::StrFormat("no layer's tile kernel has the path of %s (%s)",
                                  tile_kernels[i]->name,
                                  kernels::PathName(tile_kernels[i]->path)));
    }
  }
  const kernels::PeakRates peaks = kernels::PeakRatesFromFlags();
  std::printf("%s\n", kernels::PeakRatesLine(peaks).c_str());
  const kernels::ReadBandwidth probe =
      kernels::MeasureReadBandwidth(absl::GetFlag(FLAGS_bandwidth_probe_bytes));
  const double bandwidth = probe.bytes_per_second;
  std::printf("read bandwidth (%d threads, %.1f GiB probe, best %s): %.1f GB/s; CPU %s\n",
              omp_get_max_threads(), absl::GetFlag(FLAGS_bandwidth_probe_bytes) / 1073741824.0,
              probe.kernel.c_str(), bandwidth / 1e9,
              kernels::DetectedCpuFeatures().ToString().c_str());
  std::printf("%s\n", kernels::VectorScalingLine(kernels::MeasureVectorScaling()).c_str());
  std::printf("%s\n", kernels::WindowRatesLine().c_str());
  // Registered in order, so each (model, format, path) builds its layers once for its qlens
  // and tile kernels.
  for (const LayerCase& c : cases) {
    for (int64_t qlen : *qlens) {
      kernels::RegisterWallTimeBenchmark(absl::StrFormat("%s/qlen=%d", c.key, qlen), RunMoe,
                                         *c.model, c.key, c.config, qlen, nullptr, bandwidth,
                                         peaks);
      for (const kernels::Microkernel* tile_kernel : tile_kernels) {
        if (tile_kernel->path != c.path) continue;
        kernels::RegisterWallTimeBenchmark(
            absl::StrFormat("%s/%s/qlen=%d", c.key, tile_kernel->name, qlen), RunMoe, *c.model,
            c.key, c.config, qlen, tile_kernel, bandwidth, peaks);
      }
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace
}  // namespace fp4moe::moe

int main(int argc, char** argv) { return fp4moe::moe::Main(argc, argv); }
