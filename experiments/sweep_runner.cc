#include "experiments/sweep_runner.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <utility>

#include <Eigen/Core>

#include "absl/algorithm/container.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "experiments/machine.h"
#include "experiments/metrics.h"
#include "experiments/progress_eta.h"
#include "files/out_of_memory.h"
#include "kernels/buffers.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm.h"
#include "kernels/microkernel_table.h"
#include "kernels/parallel_gemm.h"
#include "kernels/peak_probe.h"
#include "kernels/bandwidth_probe.h"
#include "kernels/roofline.h"
#include "moe/model_presets.h"
#include "moe/moe.h"
#include "moe/moe_config.h"
#include "moe/moe_reference.h"
#include "quant/reference_gemm.h"

namespace fp4moe::experiments {
namespace {

using kernels::BufferA;
using kernels::BufferB;
using kernels::BufferC;
using kernels::GemmPath;
using kernels::Microkernel;

using Clock = std::chrono::steady_clock;

// Weights of the distribution, scaled by 1/sqrt(cols) so that outputs are of order 1.
// real_like multiplies each output row by a log-normal factor (sigma 0.5), the spread of row
// norms trained projections show, which per-tensor scales must absorb.
RowMatrixXf WeightMatrix(int64_t rows, int64_t cols, uint64_t seed, const WeightDistribution& d) {
  RowMatrixXf w = RandomMatrix(rows, cols, seed, d.base, 1.0f / std::sqrt(float(cols)));
  if (d.row_scale_spread) {
    std::mt19937_64 rng(seed ^ 0x5bd1e995u);
    std::lognormal_distribution<float> scale(0.0f, 0.5f);
    for (int64_t r = 0; r < rows; ++r) w.row(r) *= scale(rng);
  }
  return w;
}

struct Timing {
  double median_seconds = kNotMeasured, min_seconds = kNotMeasured, max_seconds = kNotMeasured;
  double q1_seconds = kNotMeasured, q3_seconds = kNotMeasured;
};

// One warm-up call, then `repetitions` timed ones (none with speed off: one call for accuracy).
absl::StatusOr<Timing> TimeCalls(bool speed, int repetitions,
                                 const std::function<absl::Status(int)>& call) {
  if (absl::Status s = call(0); !s.ok()) return s;
  if (!speed) return Timing{};
  std::vector<double> seconds;
  for (int rep = 1; rep <= repetitions; ++rep) {
    const Clock::time_point start = Clock::now();
    if (absl::Status s = call(rep); !s.ok()) return s;
    seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  const size_t n = seconds.size();
  return Timing{seconds[n / 2], seconds.front(), seconds.back(), seconds[n / 4],
                seconds[(3 * n) / 4]};
}

void SetSpeed(ResultRow& row, const Timing& t, double bytes, double ops, double bandwidth,
              std::optional<double> peak) {
  if (std::isnan(t.median_seconds)) return;
  row.time_median_us = t.median_seconds * 1e6;
  row.time_min_us = t.min_seconds * 1e6;
  row.time_max_us = t.max_seconds * 1e6;
  row.time_q1_us = t.q1_seconds * 1e6;
  row.time_q3_us = t.q3_seconds * 1e6;
  row.tokens_per_s = row.qlen / t.median_seconds;
  row.gb_per_s = bytes / t.median_seconds / 1e9;
  row.tops = ops / t.median_seconds / 1e12;
  row.bandwidth_gb_per_s = bandwidth / 1e9;
  if (peak.has_value()) {
    const kernels::Roofline roof =
        kernels::RooflineOf(bytes, bandwidth, ops, *peak, t.median_seconds);
    row.roofline_fraction = roof.fraction;
    row.bound = roof.memory_bound() ? "memory" : "compute";
  }
}

void SetAccuracy(ResultRow& row, const ErrorMetrics& e) {
  row.rel_err = e.relative_frobenius;
  row.max_abs_err = e.max_abs;
  row.cosine = e.cosine;
}

std::string CaseLabel(const Case& c) {
  return absl::StrFormat("%s %s %s %s qlen=%d", MeasureName(c.measure), c.model->name,
                         c.format ? TraitsOf(*c.format).name : "float32",
                         c.path ? kernels::PathName(*c.path) : "auto", c.qlen);
}

class Runner {
 public:
  Runner(const SweepConfig& config, const RunOptions& options)
      : config_(config), sweep_(config.proto), options_(options),
        config_hash_(ConfigHash(config)) {}

  absl::StatusOr<ResultRow> Run(const Case& c, int64_t case_count) {
    ResultRow row;
    row.case_index = c.index;
    row.case_count = case_count;
    row.shard_index = options_.shard_index;
    row.shard_count = options_.shard_count;
    row.config_hash = config_hash_;
    row.sweep = config_.name;
    row.measure = std::string(MeasureName(c.measure));
    row.model = c.model->name;
    row.hidden = c.model->hidden;
    row.intermediate = c.model->intermediate;
    row.top_k = c.model->top_k;
    row.distribution = c.distribution->name;
    row.seed = c.seed;
    row.format = c.format ? std::string(TraitsOf(*c.format).name) : "float32";
    row.group_size = c.format ? c.group_size : 0;
    row.qlen = c.qlen;
    row.threads = c.threads > 0 ? c.threads : omp_get_max_threads();
    row.tp_parts = c.tp_parts;
    row.cpu = HostAndFeatures();
    row.cpu_model = CpuModelName();
    row.l3_bytes = L3CacheBytes();
    omp_set_num_threads(static_cast<int>(row.threads));
    Eigen::setNbThreads(static_cast<int>(row.threads));
    // A case's matrices, buffers and layer are sized by the config: under a process memory
    // limit (ulimit -v), below the machine's memory the config was checked against, their
    // allocation can fail.
    absl::Status status = files::CatchOutOfMemory(
        [] { return std::string("allocating its matrices, buffers or layer"); },
        [&] { return c.measure == Measure::kGemm ? RunGemm(c, row) : RunMoe(c, row); });
    if (!status.ok()) return status;
    return RoundTripped(row);
  }

 private:
  double Bandwidth(int64_t threads) {
    auto [it, inserted] = bandwidth_.try_emplace(threads, 0.0);
    if (inserted) {
      it->second = kernels::MeasureReadBandwidth(sweep_.bandwidth_probe_bytes()).bytes_per_second;
    }
    return it->second;
  }

  // The peak rates on `threads` threads (AMX's measured, as the bandwidth is).
  const kernels::PeakRates& Peaks(int64_t threads) {
    auto [it, inserted] = peaks_.try_emplace(threads);
    if (inserted) it->second = kernels::MeasurePeakRates();
    return it->second;
  }

  const RowMatrixXf& GemmWeights(const Case& c) {
    const std::string key = absl::StrFormat("%s/%s/%s/%d", c.model->name,
                                            ProjectionName(c.projection), c.distribution->name,
                                            c.seed);
    if (key != gemm_weights_key_) {
      const bool up = c.projection == Projection::kUp;
      gemm_weights_ = WeightMatrix(up ? c.model->intermediate : c.model->hidden,
                                   up ? c.model->hidden : c.model->intermediate,
                                   c.seed + (up ? 0 : 1), *c.distribution);
      gemm_weights_key_ = key;
      packed_key_.clear();
    }
    return gemm_weights_;
  }

  absl::Status RunGemm(const Case& c, ResultRow& row) {
    const RowMatrixXf& w = GemmWeights(c);
    const int64_t n = w.rows(), k = w.cols(), m = c.qlen;
    row.projection = std::string(ProjectionName(c.projection));
    const RowMatrixXf x = RandomMatrix(m, k, c.seed + 2);
    const int64_t checked = std::min(m, sweep_.accuracy_tokens());
    const RowMatrixXd exact = ReferenceGemm(x.topRows(checked), w);
    const double ops = 2.0 * m * n * k;
    if (!c.format) return RunFloatGemm(w, x, exact, ops, row);

    const std::string packed_key = absl::StrCat(row.format, "/", c.group_size);
    if (packed_key != packed_key_) {
      absl::StatusOr<BufferB> b = BufferB::Quantize("w", w, *c.format, c.group_size);
      if (!b.ok()) return b.status();
      weight_error_ = CompareMatrices(b->Dequantize().cast<double>(), w.cast<double>());
      packed_.clear();
      // Copies enough to exceed stream_bytes, so that timed calls read the weights from DRAM.
      const int64_t copies = std::max<int64_t>(1, sweep_.stream_bytes() / b->streamed_bytes());
      for (int64_t i = 1; i < copies; ++i) packed_.push_back(b->Clone());
      packed_.push_back(*std::move(b));
      packed_key_ = packed_key;
    }
    const BufferB& first = packed_.front();
    // Storage, not what BufferB streams: it keeps MXFP4's scale once per 16 for the kernels.
    row.bits_per_weight = TraitsOf(*c.format).bits_per_weight(c.group_size);
    row.working_set_bytes = first.streamed_bytes() * static_cast<int64_t>(packed_.size());
    row.weight_rel_err = weight_error_.relative_frobenius;
    row.weight_cosine = weight_error_.cosine;

    moe::MoeConfig resolve;
    resolve.weight_format = *c.format;
    resolve.path = c.path;
    resolve.isa = config_.isa;
    absl::StatusOr<GemmPath> path = moe::ResolvePath(resolve, m);
    if (!path.ok()) return path.status();
    row.path = std::string(kernels::PathName(*path));
    absl::StatusOr<const Microkernel*> kernel =
        kernels::SelectMicrokernel(*path, config_.isa, kernels::DetectedCpuFeatures(), m);
    if (!kernel.ok()) {
      row.note = absl::StrCat("skipped: ", kernel.status().message());
      return absl::OkStatus();
    }
    row.kernel = (*kernel)->name;
    row.isa = std::string(kernels::IsaName((*kernel)->isa));
    absl::StatusOr<BufferA> a =
        BufferA::Create(*path, m, k, first.block(), kernels::ReadsTileOrder(**kernel));
    if (!a.ok()) return a.status();
    if (absl::Status s = a->Set("x", x); !s.ok()) return s;
    BufferC out(m, n);
    const int threads = static_cast<int>(row.threads);
    absl::StatusOr<Timing> timing =
        TimeCalls(sweep_.speed(), sweep_.repetitions(), [&](int call) -> absl::Status {
          const BufferB& b = packed_[call % packed_.size()];
          return kernels::ParallelGemm(**kernel, m, n, k, b.block(), *a, b, out, threads);
        });
    if (!timing.ok()) return timing.status();
    SetAccuracy(row, CompareMatrices(out.ToMatrix(m).topRows(checked).cast<double>(), exact));
    if (sweep_.speed()) {
      SetSpeed(row, *timing, first.streamed_bytes(), ops, Bandwidth(row.threads),
               kernels::PeakFor(Peaks(row.threads), *path, (*kernel)->isa));
    }
    return absl::OkStatus();
  }

  // Eigen's float32 product on the unquantized weights: no roofline (no peak for it).
  absl::Status RunFloatGemm(const RowMatrixXf& w, const RowMatrixXf& x, const RowMatrixXd& exact,
                            double ops, ResultRow& row) {
    row.path = "eigen";
    row.kernel = "eigen_float32";
    row.bits_per_weight = 32;
    row.working_set_bytes = 4 * w.size();
    row.weight_rel_err = 0;
    row.weight_cosine = 1;
    RowMatrixXf out(x.rows(), w.rows());
    absl::StatusOr<Timing> timing = TimeCalls(sweep_.speed(), sweep_.repetitions(), [&](int) {
      out.noalias() = x * w.transpose();
      return absl::OkStatus();
    });
    if (!timing.ok()) return timing.status();
    SetAccuracy(row, CompareMatrices(out.topRows(exact.rows()).cast<double>(), exact));
    if (sweep_.speed()) {
      SetSpeed(row, *timing, 4.0 * w.size(), ops, Bandwidth(row.threads), std::nullopt);
    }
    return absl::OkStatus();
  }

  const std::vector<moe::ExpertFloatWeights>& MoeWeights(const Case& c, int64_t experts) {
    const std::string key =
        absl::StrCat(c.model->name, "/", c.distribution->name, "/", c.seed, "/", experts);
    if (key != moe_weights_key_) {
      moe_weights_.clear();
      moe_biases_.clear();
      layer_.reset();
      const int64_t h = c.model->hidden, i = c.model->intermediate;
      for (int64_t e = 0; e < experts; ++e) {
        const uint64_t s = c.seed + 16 + 3 * e;
        moe_weights_.push_back({WeightMatrix(i, h, s, *c.distribution),
                                WeightMatrix(i, h, s + 1, *c.distribution),
                                WeightMatrix(h, i, s + 2, *c.distribution)});
        if (c.model->biases) moe_biases_.push_back(moe::RandomExpertBiases(h, i, s + 1000));
      }
      moe_weights_key_ = key;
    }
    return moe_weights_;
  }

  absl::Status RunMoe(const Case& c, ResultRow& row) {
    const int64_t experts = config_.moe_experts(*c.model);
    const std::vector<moe::ExpertFloatWeights>& floats = MoeWeights(c, experts);
    row.experts = experts;
    row.projection = "layer";
    moe::MoeConfig mc;
    mc.expert_num = experts;
    mc.num_experts_per_tok = c.model->top_k;
    mc.hidden_size = c.model->hidden;
    mc.intermediate_size = c.model->intermediate;
    mc.activation = c.model->activation;
    mc.swiglu_limit = c.model->swiglu_limit;
    mc.max_len = config_.max_qlen();
    mc.weight_format = *c.format;
    mc.group_size = c.group_size;
    mc.path = c.path;
    mc.isa = config_.isa;
    mc.num_threads = static_cast<int>(row.threads);
    mc.tp_parts = c.tp_parts;
    const std::string layer_key = absl::StrFormat(
        "%s/%d/%s/%d/%d", row.format, c.group_size,
        c.path ? kernels::PathName(*c.path) : "auto", c.tp_parts, row.threads);
    if (layer_key != layer_key_ || layer_ == nullptr) {
      layer_.reset();
      layer_key_ = layer_key;
      absl::StatusOr<std::unique_ptr<moe::MoeLayer>> layer =
          moe::MoeLayer::Create(mc, floats, moe_biases_);
      if (!layer.ok()) {
        layer_error_ = layer.status();
      } else {
        layer_ = *std::move(layer);
      }
    }
    if (layer_ == nullptr) {
      row.note = absl::StrCat("skipped: ", layer_error_.message());
      return absl::OkStatus();
    }
    const int64_t h = c.model->hidden, inter = c.model->intermediate, q = c.qlen;
    const int k = c.model->top_k;
    row.bits_per_weight = TraitsOf(*c.format).bits_per_weight(c.group_size);

    // k distinct experts per token with positive weights summing to 1.
    std::mt19937_64 rng(c.seed * 7919 + q);
    std::vector<int64_t> ids, order(experts);
    std::vector<float> weights;
    std::uniform_real_distribution<float> draw(0.05f, 1.0f);
    for (int64_t t = 0; t < q; ++t) {
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), rng);
      float sum = 0;
      for (int j = 0; j < k; ++j) {
        ids.push_back(order[j]);
        weights.push_back(draw(rng));
        sum += weights.back();
      }
      for (int j = 0; j < k; ++j) weights[t * k + j] /= sum;
    }
    const RowMatrixXf x = RandomMatrix(q, h, c.seed + 7);
    RowMatrixXf out(q, h);
    absl::StatusOr<Timing> timing = TimeCalls(sweep_.speed(), sweep_.repetitions(), [&](int) {
      return layer_->Forward(q, k, ids.data(), weights.data(), x.data(), out.data());
    });
    if (!timing.ok()) return timing.status();
    // The kernels the (identical) calls ran.
    const moe::MoeLayer::KernelsUsed used = layer_->last_kernels_used();
    row.kernel = layer_->KernelsLabel(used);
    row.path = layer_->KernelsLabel(used, /*paths=*/true);
    std::vector<std::string> isas;
    for (const Microkernel* kernel : used.kernels) {
      const std::string isa(kernel != nullptr ? kernels::IsaName(kernel->isa) : "");
      if (!isa.empty() && absl::c_find(isas, isa) == isas.end()) isas.push_back(isa);
    }
    row.isa = absl::StrJoin(isas, "+");
    // The weights of the experts routed to: the same ones in every timed call.
    for (int64_t e : std::set<int64_t>(ids.begin(), ids.end())) {
      row.working_set_bytes += layer_->expert_streamed_bytes(e);
    }
    const int64_t checked = std::min(q, sweep_.accuracy_tokens());
    const moe::MoeReferenceResult exact = moe::ReferenceMoe(
        floats, checked, k, ids.data(), weights.data(), x.topRows(checked), moe::PathRounding{},
        /*tp_parts=*/1, {c.model->activation, c.model->swiglu_limit, moe_biases_});
    SetAccuracy(row, CompareMatrices(out.topRows(checked).cast<double>(), exact.output));
    if (sweep_.speed()) {
      const Microkernel& kernel = layer_->RoofKernel(used);
      SetSpeed(row, *timing, row.working_set_bytes, 2.0 * q * k * 3 * h * inter,
               Bandwidth(row.threads),
               kernels::PeakFor(Peaks(row.threads), kernel.path, kernel.isa));
    }
    return absl::OkStatus();
  }

  const SweepConfig& config_;
  const Sweep& sweep_;
  const RunOptions& options_;
  const std::string config_hash_;
  std::map<int64_t, double> bandwidth_;
  std::map<int64_t, kernels::PeakRates> peaks_;
  // One entry each: cases come ordered so that neighbours share weights and layers.
  std::string gemm_weights_key_, packed_key_, moe_weights_key_, layer_key_;
  RowMatrixXf gemm_weights_;
  std::vector<BufferB> packed_;
  ErrorMetrics weight_error_;
  std::vector<moe::ExpertFloatWeights> moe_weights_;
  std::vector<moe::ExpertBiases> moe_biases_;  // empty: the model has none
  std::unique_ptr<moe::MoeLayer> layer_;
  absl::Status layer_error_;
};

// Cases of one kind cost about the same: format and path change the time less than these.
std::string CaseKind(const Case& c) {
  return absl::StrFormat("%s/%s/%d/%d/%d", MeasureName(c.measure), c.model->name, c.qlen,
                         c.threads, c.tp_parts);
}

}  // namespace

std::vector<Case> EnumerateCases(const SweepConfig& config) {
  std::vector<Case> cases;
  auto add = [&](Case c) {
    for (int threads : config.threads) {
      for (int64_t qlen : config.qlens) {
        c.index = static_cast<int64_t>(cases.size());
        c.threads = threads;
        c.qlen = qlen;
        cases.push_back(c);
      }
    }
  };
  for (Measure measure : config.measures) {
    const std::vector<Projection> projections =
        measure == Measure::kGemm ? config.projections : std::vector<Projection>{Projection::kUp};
    for (const ModelShape& model : config.models) {
      if (!model.Takes(measure)) continue;
      for (Projection projection : projections) {
        for (const WeightDistribution& distribution : config.distributions) {
          for (uint64_t seed : config.seeds) {
            Case c;
            c.measure = measure;
            c.model = &model;
            c.projection = projection;
            c.distribution = &distribution;
            c.seed = seed;
            if (measure == Measure::kGemm && config.proto.float_baseline()) add(c);
            for (const FormatChoice& format : config.formats) {
              for (int64_t group : format.group_sizes) {
                for (const std::optional<GemmPath>& path : format.paths) {
                  c.format = format.format;
                  c.group_size = group;
                  c.path = path;
                  for (int tp : measure == Measure::kMoe ? config.tp_parts : std::vector<int>{1}) {
                    c.tp_parts = tp;
                    add(c);
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  return cases;
}

absl::Status CheckShard(int shard_index, int shard_count) {
  if (shard_count <= 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("shard count %d: want at least 1", shard_count));
  }
  if (shard_index < 0 || shard_index >= shard_count) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "shard index %d of %d shards: want 0 <= shard_index < %d", shard_index, shard_count,
        shard_count));
  }
  return absl::OkStatus();
}

absl::StatusOr<RunResult> RunSweep(const SweepConfig& config, const RunOptions& options) {
  if (absl::Status s = CheckShard(options.shard_index, options.shard_count); !s.ok()) return s;
  const std::vector<Case> cases = EnumerateCases(config);
  std::vector<const Case*> mine;
  for (const Case& c : cases) {
    if (c.index % options.shard_count == options.shard_index) mine.push_back(&c);
  }
  RunResult result;
  result.shard_cases = static_cast<int64_t>(mine.size());
  Runner runner(config, options);
  std::vector<std::string> kinds;
  for (const Case* c : mine) kinds.push_back(CaseKind(*c));
  EtaEstimator eta(kinds);
  const Clock::time_point start = Clock::now();
  Clock::time_point case_start = start;
  Clock::time_point last_report = start;
  const bool terminal = isatty(STDERR_FILENO);
  for (size_t done = 0; done < mine.size(); ++done) {
    if (options.stop != nullptr && options.stop->load()) {
      result.stopped = true;
      break;
    }
    absl::StatusOr<ResultRow> row = runner.Run(*mine[done], static_cast<int64_t>(cases.size()));
    if (!row.ok()) {
      return absl::Status(row.status().code(), absl::StrFormat("case %d (%s): %s",
                                                               mine[done]->index,
                                                               CaseLabel(*mine[done]),
                                                               row.status().message()));
    }
    // Clear a redrawn progress line so that what on_row prints starts on a clean line.
    if (options.progress && terminal) std::fprintf(stderr, "\r\033[K");
    if (options.on_row) options.on_row(*row);
    result.rows.push_back(*std::move(row));
    const Clock::time_point now = Clock::now();
    eta.Finished(std::chrono::duration<double>(now - case_start).count());
    case_start = now;
    // On a terminal the line is redrawn after each case; in a log, one line per 10 s.
    if (options.progress && (terminal || now - last_report > std::chrono::seconds(10))) {
      const double elapsed = std::chrono::duration<double>(now - start).count();
      std::fprintf(stderr, "%s[%zu/%zu] %s  elapsed %s, %s%s", terminal ? "\r\033[K" : "",
                   done + 1, mine.size(), CaseLabel(*mine[done]).c_str(),
                   Duration(elapsed).c_str(), eta.Text().c_str(), terminal ? "" : "\n");
      last_report = now;
    }
  }
  if (options.progress && terminal) std::fprintf(stderr, "\n");
  return result;
}

}  // namespace fp4moe::experiments
