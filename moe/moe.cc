#include "moe/moe.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "kernels/gemm.h"
#include "kernels/microkernel_table.h"
#include "moe/numa.h"
#include "moe/parallel.h"
#include "moe/silu.h"
#include "quant/bf16.h"

namespace fp4moe::moe {
namespace {

int SliceCount(int64_t n, int64_t slice_columns) {
  return static_cast<int>((n + slice_columns - 1) / slice_columns);
}

// Prefill jobs of at least kWideSliceRows rows take slices of kWideSliceColumns: a tile kernel
// packs or re-reads the job's whole input for every slice, so narrow slices of a long input
// repeat that work (the W4A16 AMX kernel at m = 128, k = 7168, 16 threads: 2.6 to 2.9 TFLOPS on
// 64-column slices, 3.1 on 128). Only where the call still has kMinItemsPerThread items per
// thread, so that skewed routing (one expert, all tokens) keeps every thread busy.
constexpr int64_t kWideSliceRows = 32;
constexpr int64_t kWideSliceColumns = 4 * kernels::kSliceColumns;
constexpr int64_t kMinItemsPerThread = 4;

int64_t DecodeSlots(const MoeConfig& config) {
  return std::min<int64_t>(config.expert_num, kDecodeMaxTokens * config.num_experts_per_tok);
}

// The block the kernels quantize activations by: G for INT4 K2, else 16 (E2M1 weights are
// packed in blocks of 16 whatever the format's scale block).
int64_t KernelBlock(const MoeConfig& config) {
  return config.weight_format == WeightFormat::kInt4K2 ? config.group_size : Nvfp4Tensor::kBlock;
}

// The rows a prefill call routes at most: each token to k distinct experts, a row each.
int64_t PrefillRows(const MoeConfig& config) {
  return config.max_len * config.num_experts_per_tok;
}

// Rows of the prefill arena's second activation buffers (MoeLayer::Activations::gemv), which
// only the GEMV kernel's jobs use: at most gemv_below_rows - 1 rows for each expert.
int64_t PrefillGemvRows(const MoeConfig& config, int64_t gemv_below_rows) {
  return std::min(PrefillRows(config), (gemv_below_rows - 1) * config.expert_num);
}

// The bytes per row of the buffers BuildPart and Create allocate (they are linear in their
// rows): a part's gate, up and down outputs, its intermediate quantized for `path`, and the
// input rows quantized for `path`.
int64_t OutputBytesPerRow(const MoeConfig& config) {
  return 2 * kernels::BufferC::Bytes(1, config.part_intermediate_size()) +
         kernels::BufferC::Bytes(1, config.hidden_size);
}

int64_t IntermediateBytesPerRow(const MoeConfig& config, kernels::GemmPath path) {
  return kernels::BufferA::Bytes(path, 1, config.part_intermediate_size(), KernelBlock(config));
}

int64_t InputBytesPerRow(const MoeConfig& config, kernels::GemmPath path) {
  return kernels::BufferA::Bytes(path, 1, config.hidden_size, KernelBlock(config));
}

// Refuses a workspace larger than this machine's memory before allocating it: zero-filled,
// it would be touched at once and the process killed for memory. The prefill arenas, max_len *
// num_experts_per_tok rows, are what grows: for DeepSeek-V3 at max_len 4096 they make about
// 3 GB per part. In double: any max_len is a valid config. Decode buffers are of the GEMV
// kernel's path; prefill's of the tile kernel's, plus `gemv_rows` rows of the GEMV kernel's
// where that differs.
absl::Status CheckWorkspaceFits(const MoeConfig& config, kernels::GemmPath tile_path,
                                kernels::GemmPath gemv_path, int64_t gemv_rows) {
  const double parts = config.tp_parts;
  const auto row_bytes = [&](kernels::GemmPath path, bool outputs, bool gathered) {
    return parts * static_cast<double>((outputs ? OutputBytesPerRow(config) : 0) +
                                       IntermediateBytesPerRow(config, path)) +
           static_cast<double>(InputBytesPerRow(config, path)) +
           (gathered ? static_cast<double>(config.hidden_size) * sizeof(float) : 0.0);
  };
  const double prefill_rows =
      static_cast<double>(config.max_len) * static_cast<double>(config.num_experts_per_tok);
  double prefill = row_bytes(tile_path, true, true) * prefill_rows;
  if (gemv_path != tile_path) {
    prefill += row_bytes(gemv_path, false, false) * static_cast<double>(gemv_rows);
  }
  const double decode_rows = static_cast<double>(std::min(kDecodeMaxTokens, config.max_len));
  const double decode_slot_row =
      static_cast<double>(OutputBytesPerRow(config) + IntermediateBytesPerRow(config, gemv_path));
  const double workspace =
      prefill + (parts * DecodeSlots(config) * decode_slot_row +
                 static_cast<double>(InputBytesPerRow(config, gemv_path))) *
                    decode_rows;
  const long pages = sysconf(_SC_PHYS_PAGES), page_bytes = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_bytes <= 0) return absl::OkStatus();  // unknown: let allocation tell
  const double memory = static_cast<double>(pages) * static_cast<double>(page_bytes);
  if (workspace <= memory) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrFormat(
      "MoeLayer::Create: the workspace for max_len = %d tokens x num_experts_per_tok = %d "
      "routed rows would take %.1f GB (%.1f GB of it the prefill arenas), more than this "
      "machine's %.1f GB of memory: lower max_len or num_experts_per_tok",
      config.max_len, config.num_experts_per_tok, workspace / 1e9, prefill / 1e9,
      memory / 1e9));
}

// Whether every value of the row is finite: one vectorisable pass with no early exit.
bool RowFinite(const float* x, int64_t n) {
  float poison = 0.0f;  // x * 0 is NaN exactly where x is NaN or infinite
#pragma omp simd reduction(+ : poison)
  for (int64_t i = 0; i < n; ++i) poison += x[i] * 0.0f;
  return poison == 0.0f;
}

bool RowFinite(const uint16_t* x, int64_t n) {
  int non_finite = 0;  // all exponent bits set: infinity or NaN
#pragma omp simd reduction(| : non_finite)
  for (int64_t i = 0; i < n; ++i) non_finite |= (x[i] & 0x7F80) == 0x7F80;
  return non_finite == 0;
}

absl::Status CheckFinite(MoeLayer::Input input, int64_t qlen, int64_t hidden, int threads) {
  bool finite = true;
  // Prefill inputs are large enough (up to ~100 MB) for the scan to be worth a team.
#pragma omp parallel for schedule(static) num_threads(threads) if (qlen > kDecodeMaxTokens) \
    reduction(&& : finite)
  for (int64_t t = 0; t < qlen; ++t) {
    finite = finite && (input.f32 != nullptr ? RowFinite(input.f32 + t * hidden, hidden)
                                             : RowFinite(input.bf16 + t * hidden, hidden));
  }
  if (finite) return absl::OkStatus();
  // Find the first offender for the message.
  for (int64_t i = 0; i < qlen * hidden; ++i) {
    const float v = input.f32 != nullptr ? input.f32[i] : Bf16ToFloat(input.bf16[i]);
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "Forward: input[token %d, column %d] = %g is not finite", i / hidden, i % hidden, v));
    }
  }
  return absl::OkStatus();
}

// Spins until `flag` is set: pause (the sibling hyperthread gets the core), and after a
// while yield, in case the thread that will set it is waiting for this core.
void WaitFor(const std::atomic<bool>& flag) {
  for (int spins = 0; !flag.load(std::memory_order_acquire); ++spins) {
    if (spins < 4096) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }
}

// Columns of an output row one decode reduction item sums.
constexpr int64_t kReduceColumns = 4 * kernels::kSliceColumns;

}  // namespace

MoeLayer::MoeLayer(const MoeConfig& config, const kernels::Microkernel* kernel,
                   const kernels::Microkernel* gemv_kernel,
                   const kernels::Microkernel* gemv_path_tile_kernel, int64_t gemv_below_rows,
                   int numa_nodes)
    : config_(config),
      kernel_(kernel),
      gemv_kernel_(gemv_kernel),
      gemv_path_tile_kernel_(gemv_path_tile_kernel),
      gemv_below_rows_(gemv_below_rows),
      numa_nodes_(numa_nodes),
      kernel_block_(KernelBlock(config)),
      parts_(config.tp_parts),
      grouping_(config.expert_num, config.max_len, config.num_experts_per_tok),
      jobs_(config.expert_num),
      job_of_expert_(config.expert_num, -1),
      gate_up_begin_(config.expert_num + 1, 0),
      down_begin_(config.expert_num + 1, 0),
      job_states_(std::make_unique<JobState[]>(config.tp_parts * jobs_.size())),
      scheduler_(std::make_unique<PartScheduler>(config.num_threads, config.tp_parts,
                                                 numa_nodes)) {}

MoeLayer::~MoeLayer() = default;

absl::StatusOr<std::unique_ptr<MoeLayer>> MoeLayer::Create(
    const MoeConfig& config, absl::Span<const ExpertFloatWeights> experts) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  if (static_cast<int64_t>(experts.size()) != config.expert_num) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "MoeLayer::Create: %d experts given, config.expert_num = %d", experts.size(),
        config.expert_num));
  }
  std::vector<ExpertQuantizedWeights> quantized(experts.size());
  FirstError errors;
#pragma omp parallel for schedule(dynamic) num_threads(config.num_threads)
  for (int64_t e = 0; e < config.expert_num; ++e) {
    absl::StatusOr<ExpertQuantizedWeights> q = QuantizeExpert(config, e, experts[e]);
    if (q.ok()) {
      quantized[e] = std::move(*q);
    } else {
      errors.Record(q.status());
    }
  }
  if (absl::Status s = errors.status(); !s.ok()) return s;
  return Create(config, quantized);
}

absl::StatusOr<std::unique_ptr<MoeLayer>> MoeLayer::Create(
    const MoeConfig& config, absl::Span<const ExpertQuantizedWeights> experts) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  if (static_cast<int64_t>(experts.size()) != config.expert_num) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "MoeLayer::Create: %d experts given, config.expert_num = %d", experts.size(),
        config.expert_num));
  }
  absl::StatusOr<kernels::GemmPath> path = ResolvePath(config);
  if (!path.ok()) return path.status();
  absl::StatusOr<kernels::GemmPath> gemv_path = ResolvePath(config, /*rows=*/1);
  if (!gemv_path.ok()) return gemv_path.status();
  // Tile kernels for many rows, and the best one for a single row (a GEMV streams weights).
  absl::StatusOr<const kernels::Microkernel*> kernel =
      kernels::SelectMicrokernel(*path, config.isa);
  absl::StatusOr<const kernels::Microkernel*> gemv_kernel = kernels::SelectMicrokernel(
      *gemv_path, config.isa, kernels::DetectedCpuFeatures(), /*m=*/1);
  for (const auto& [selected, selected_path] : {std::pair{&kernel, *path},
                                                  std::pair{&gemv_kernel, *gemv_path}}) {
    if (!selected->ok()) {
      return absl::Status(selected->status().code(),
                          absl::StrFormat("MoeLayer::Create: path %s: %s",
                                          kernels::PathName(selected_path),
                                          selected->status().message()));
    }
  }
  // Products of up to Int8PathMaxRows rows run the GEMV path; rows from there to the tile
  // kernel's min_m (none with the kernels' current thresholds) stay with it too.
  const int64_t gemv_below_rows =
      *gemv_path == *path ? (*kernel)->min_m
                          : std::max((*kernel)->min_m, Int8PathMaxRows(config) + 1);
  // The GEMV path's own tile kernel, where it has one for its larger products (INT4 K2's AMX
  // INT8 kernel); else the GEMV kernel again.
  const kernels::Microkernel* gemv_path_tile_kernel = *gemv_kernel;
  if (absl::StatusOr<const kernels::Microkernel*> selected = kernels::SelectMicrokernel(
          *gemv_path, config.isa, kernels::DetectedCpuFeatures(), gemv_below_rows - 1);
      selected.ok() && (*selected)->min_m < gemv_below_rows) {
    gemv_path_tile_kernel = *selected;
  }
  // Every decode product (qlen <= kDecodeMaxTokens rows) runs the GEMV kernel, so the decode
  // buffers are of its path.
  static_assert(kDecodeMaxTokens <= kStreamingMaxRows && kDecodeMaxTokens <= kInt4Int8MaxRows);
  const int64_t gemv_rows = PrefillGemvRows(config, gemv_below_rows);
  if (absl::Status s = CheckWorkspaceFits(config, *path, *gemv_path, gemv_rows); !s.ok()) {
    return s;
  }
  const int numa_nodes = NumaNodesForParts();
  std::unique_ptr<MoeLayer> layer(
      new MoeLayer(config, *kernel, *gemv_kernel, gemv_path_tile_kernel, gemv_below_rows,
                   numa_nodes));
  std::vector<absl::Status> part_status(config.tp_parts);
  if (numa_nodes > 1) {
    // Each part is packed by a thread on its node, so that its pages land there.
    std::vector<std::thread> builders;
    for (int p = 0; p < config.tp_parts; ++p) {
      builders.emplace_back([&, p] {
        BindThreadToNode(p % numa_nodes);
        part_status[p] = layer->BuildPart(p, experts);
      });
    }
    for (std::thread& t : builders) t.join();
  } else {
    for (int p = 0; p < config.tp_parts; ++p) part_status[p] = layer->BuildPart(p, experts);
  }
  for (const absl::Status& s : part_status) {
    if (!s.ok()) return s;
  }
  const int64_t prefill_rows = PrefillRows(config);
  absl::StatusOr<Activations> prefill_input =
      layer->CreateActivations(*path, config.hidden_size, prefill_rows, gemv_rows);
  if (!prefill_input.ok()) return prefill_input.status();
  layer->prefill_input_ = std::make_unique<PrefillInput>(PrefillInput{
      kernels::AlignedBuffer(prefill_rows * config.hidden_size * sizeof(float)),
      std::move(*prefill_input)});
  absl::StatusOr<kernels::BufferA> decode_input =
      kernels::BufferA::Create(*gemv_path, std::min(kDecodeMaxTokens, config.max_len),
                               config.hidden_size, layer->kernel_block_);
  if (!decode_input.ok()) return decode_input.status();
  layer->decode_input_ = std::make_unique<kernels::BufferA>(std::move(*decode_input));
  return layer;
}

absl::Status MoeLayer::BuildPart(int part, absl::Span<const ExpertQuantizedWeights> experts) {
  Part& p = parts_[part];
  for (int64_t e = 0; e < config_.expert_num; ++e) {
    absl::StatusOr<ExpertPart> packed = PackExpertPart(config_, e, experts[e], part);
    if (!packed.ok()) return packed.status();
    p.experts.push_back(std::move(*packed));
  }
  const int64_t inter = config_.part_intermediate_size(), hidden = config_.hidden_size;
  const auto expert_buffers = [&](kernels::GemmPath path, int64_t rows,
                                  int64_t gemv_rows) -> absl::StatusOr<ExpertBuffers> {
    absl::StatusOr<Activations> intermediate = CreateActivations(path, inter, rows, gemv_rows);
    if (!intermediate.ok()) return intermediate.status();
    return ExpertBuffers{kernels::BufferC(rows, inter), kernels::BufferC(rows, inter),
                         std::move(*intermediate), kernels::BufferC(rows, hidden)};
  };
  absl::StatusOr<ExpertBuffers> prefill = expert_buffers(
      kernel_->path, PrefillRows(config_), PrefillGemvRows(config_, gemv_below_rows_));
  if (!prefill.ok()) return prefill.status();
  p.prefill = std::make_unique<ExpertBuffers>(std::move(*prefill));
  for (int64_t s = 0; s < DecodeSlots(config_); ++s) {
    absl::StatusOr<ExpertBuffers> slot =
        expert_buffers(gemv_kernel_->path, std::min(kDecodeMaxTokens, config_.max_len), 0);
    if (!slot.ok()) return slot.status();
    p.decode.push_back(std::move(*slot));
  }
  return absl::OkStatus();
}

absl::StatusOr<MoeLayer::Activations> MoeLayer::CreateActivations(kernels::GemmPath path,
                                                                  int64_t k, int64_t rows,
                                                                  int64_t gemv_rows) const {
  absl::StatusOr<kernels::BufferA> first =
      kernels::BufferA::Create(path, rows, k, kernel_block_);
  if (!first.ok()) return first.status();
  Activations activations{std::move(*first), nullptr};
  if (gemv_kernel_->path != path && gemv_rows > 0) {
    absl::StatusOr<kernels::BufferA> gemv =
        kernels::BufferA::Create(gemv_kernel_->path, gemv_rows, k, kernel_block_);
    if (!gemv.ok()) return gemv.status();
    activations.gemv = std::make_unique<kernels::BufferA>(std::move(*gemv));
  }
  return activations;
}

absl::Status MoeLayer::Forward(int64_t qlen, int k, const int64_t* expert_ids,
                               const float* routing_weights, const float* input, float* output) {
  if (in_use_.exchange(true, std::memory_order_acquire)) {
    return absl::FailedPreconditionError(
        "MoeLayer::Forward: another Forward call is running on this layer (its workspace "
        "serves one call at a time; use one layer per concurrent caller)");
  }
  absl::Status s = ForwardChecked(qlen, k, expert_ids, routing_weights, {input, nullptr}, output);
  in_use_.store(false, std::memory_order_release);
  return s;
}

absl::Status MoeLayer::Forward(int64_t qlen, int k, const int64_t* expert_ids,
                               const float* routing_weights, const uint16_t* input,
                               float* output) {
  if (in_use_.exchange(true, std::memory_order_acquire)) {
    return absl::FailedPreconditionError(
        "MoeLayer::Forward: another Forward call is running on this layer (its workspace "
        "serves one call at a time; use one layer per concurrent caller)");
  }
  absl::Status s = ForwardChecked(qlen, k, expert_ids, routing_weights, {nullptr, input}, output);
  in_use_.store(false, std::memory_order_release);
  return s;
}

absl::Status MoeLayer::ForwardChecked(int64_t qlen, int k, const int64_t* expert_ids,
                                      const float* routing_weights, Input input,
                                      float* output) {
  const struct {
    const void* pointer;
    const char* name;
  } pointers[] = {{expert_ids, "expert_ids"},
                  {routing_weights, "routing_weights"},
                  {input.f32 != nullptr ? static_cast<const void*>(input.f32) : input.bf16,
                   "input"},
                  {output, "output"}};
  for (const auto& p : pointers) {
    if (p.pointer == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat("Forward: %s is null", p.name));
    }
  }
  if (qlen <= 0 || qlen > config_.max_len) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Forward: qlen = %d is outside [1, max_len = %d]", qlen, config_.max_len));
  }
  if (k <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat("Forward: k = %d must be positive", k));
  }
  if (k > config_.expert_num) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Forward: k = %d exceeds expert_num = %d", k, config_.expert_num));
  }
  if (k > config_.num_experts_per_tok) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Forward: k = %d exceeds the configured num_experts_per_tok = %d (the workspace is "
        "sized for it)",
        k, config_.num_experts_per_tok));
  }
  if (absl::Status s =
          ValidateRouting(qlen, k, config_.expert_num, expert_ids, routing_weights);
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("Forward: ", s.message()));
  }
  if (absl::Status s = CheckFinite(input, qlen, config_.hidden_size, config_.num_threads);
      !s.ok()) {
    return s;
  }
  last_kernels_used_ = {};
  return qlen <= kDecodeMaxTokens
             ? Decode(qlen, k, expert_ids, routing_weights, input, output)
             : Prefill(qlen, k, expert_ids, routing_weights, input, output);
}

absl::Status MoeLayer::Prefill(int64_t qlen, int k, const int64_t* expert_ids,
                               const float* routing_weights, Input input, float* output) {
  grouping_.Group(qlen, k, expert_ids);
  const absl::Span<const int64_t> active = grouping_.active_experts();
  const int64_t hidden = config_.hidden_size;
  // Every active expert at once, each on its own rows of the arenas: the GEMV kernel's jobs
  // first (the second activation buffers hold only theirs), then the tile kernel's.
  const int64_t count = static_cast<int64_t>(active.size());
  const bool wide_slices =
      count * (2 * SliceCount(config_.part_intermediate_size(), kWideSliceColumns) +
               SliceCount(config_.hidden_size, kWideSliceColumns)) >=
      kMinItemsPerThread * config_.num_threads;
  int64_t gemv_row = 0, tile_row = 0;
  for (int64_t e : active) {
    if (RunsGemv(grouping_.rows(e))) tile_row += grouping_.rows(e);
  }
  for (int64_t j = 0; j < count; ++j) {
    const int64_t e = active[j];
    const int64_t rows = grouping_.rows(e);
    int64_t& row0 = RunsGemv(rows) ? gemv_row : tile_row;
    AssignJob(j, {e,
                  {row0, rows},
                  &prefill_input_->quantized.For(KernelFor(rows).path),
                  wide_slices && rows >= kWideSliceRows ? kWideSliceColumns
                                                        : kernels::kSliceColumns});
    row0 += rows;
  }
  ResetJobStates(count);
  FirstError errors;
  // One parallel region: zeroing, gather, experts and scatter-add are its phases.
  scheduler_->Parallel(ExpertItems(count), [&] {
    // The scatter-add, after a barrier, adds to the zeroed output.
#pragma omp for schedule(static) nowait
    for (int64_t t = 0; t < qlen; ++t) {
      std::fill(output + t * hidden, output + (t + 1) * hidden, 0.0f);
    }
    // Gather each expert's token rows into its rows of the input arena and quantize them once
    // for all parts.
#pragma omp for schedule(dynamic)
    for (int64_t j = 0; j < count; ++j) {
      const Job& job = jobs_[j];
      const int64_t* tokens = grouping_.tokens(job.expert);
      PrefillInput& in = *prefill_input_;
      if (input.f32 != nullptr) {
        auto* gathered = reinterpret_cast<float*>(in.gathered.data()) + job.rows.begin * hidden;
        for (int64_t r = 0; r < job.rows.count; ++r) {
          std::memcpy(gathered + r * hidden, input.f32 + tokens[r] * hidden,
                      hidden * sizeof(float));
        }
        errors.Record(job.input->Set(
            "moe input", Eigen::Map<const RowMatrixXf>(gathered, job.rows.count, hidden),
            job.rows.begin));
      } else {
        auto* gathered =
            reinterpret_cast<uint16_t*>(in.gathered.data()) + job.rows.begin * hidden;
        for (int64_t r = 0; r < job.rows.count; ++r) {
          std::memcpy(gathered + r * hidden, input.bf16 + tokens[r] * hidden,
                      hidden * sizeof(uint16_t));
        }
        errors.Record(job.input->SetBf16("moe input", gathered, job.rows.count, job.rows.begin));
      }
    }
    RunExperts(
        /*phase=*/0, count, [](Part& part, int64_t) -> ExpertBuffers& { return *part.prefill; },
        errors);
#pragma omp barrier
    ScatterAdd(qlen, k, expert_ids, routing_weights, grouping_.row_of_slot(), output);
  });
  for (int64_t j = 0; j < count; ++j) job_of_expert_[jobs_[j].expert] = -1;
  return errors.status();
}

absl::Status MoeLayer::Decode(int64_t qlen, int k, const int64_t* expert_ids,
                              const float* routing_weights, Input input, float* output) {
  // Every chosen expert runs once over all qlen tokens (rows of tokens that did not choose
  // it are computed and dropped): with few tokens the cost is streaming the weights, which
  // this does once per expert, with no grouping or gathering.
  int64_t count = 0;
  for (int64_t i = 0; i < qlen * k; ++i) {
    const int64_t e = expert_ids[i];
    if (job_of_expert_[e] >= 0) continue;
    AssignJob(count++, {e, {0, qlen}, decode_input_.get()});
  }
  const int64_t hidden = config_.hidden_size;
  absl::Status status =
      input.f32 != nullptr
          ? decode_input_->Set("moe input", Eigen::Map<const RowMatrixXf>(input.f32, qlen, hidden))
          : decode_input_->SetBf16("moe input", input.bf16, qlen);
  if (status.ok()) {
    ResetJobStates(count);
    FirstError errors;
    const int64_t chunks = (hidden + kReduceColumns - 1) / kReduceColumns;
    scheduler_->Parallel(ExpertItems(count), [&] {
      RunExperts(
          /*phase=*/0, count,
          [](Part& part, int64_t job) -> ExpertBuffers& { return part.decode[job]; }, errors);
#pragma omp barrier
      // output = the weighted sum of the slots' down rows, written whole (no zeroing first),
      // by column chunks so that every thread takes part; each element is summed by one
      // thread in slot then part order, the order of the prefill's scatter-add.
#pragma omp for schedule(static)
      for (int64_t item = 0; item < qlen * chunks; ++item) {
        const int64_t t = item / chunks;
        const int64_t c0 = item % chunks * kReduceColumns;
        const int64_t c1 = std::min(hidden, c0 + kReduceColumns);
        float* out = output + t * hidden;
        std::fill(out + c0, out + c1, 0.0f);
        for (int j = 0; j < k; ++j) {
          const int64_t job = job_of_expert_[expert_ids[t * k + j]];
          const float w = routing_weights[t * k + j];
          for (const Part& part : parts_) {
            const float* down = part.decode[job].down.data() + t * hidden;
            for (int64_t c = c0; c < c1; ++c) out[c] += w * down[c];
          }
        }
      }
    });
    status = errors.status();
  }
  for (int64_t j = 0; j < count; ++j) job_of_expert_[jobs_[j].expert] = -1;
  return status;
}

void MoeLayer::AssignJob(int64_t j, const Job& job) {
  jobs_[j] = job;
  job_of_expert_[job.expert] = j;
  gate_up_begin_[j + 1] =
      gate_up_begin_[j] + 2 * SliceCount(config_.part_intermediate_size(), job.slice_columns);
  down_begin_[j + 1] = down_begin_[j] + SliceCount(config_.hidden_size, job.slice_columns);
  last_kernels_used_.Add(&KernelFor(job.rows.count));
}

void MoeLayer::ResetJobStates(int64_t job_count) {
  for (int p = 0; p < config_.tp_parts; ++p) {
    for (int64_t j = 0; j < job_count; ++j) {
      JobState& state = job_states_[p * jobs_.size() + j];
      state.done.store(0, std::memory_order_relaxed);
      state.ready.store(false, std::memory_order_relaxed);
    }
  }
}

int64_t MoeLayer::ExpertItems(int64_t job_count) const {
  return gate_up_begin_[job_count] + down_begin_[job_count];
}

void MoeLayer::RunExperts(int phase, int64_t job_count, BuffersOfJob buffers_of,
                          FirstError& errors) {
  const int64_t inter = config_.part_intermediate_size(), hidden = config_.hidden_size;
  // Work items are (part, expert, slice of gate, of up, or of down), gate and up
  // apart so that the last items of the phase are short: an expert with many tokens is spread
  // over many threads instead of stalling one. All gate and up items come first, in job
  // order; the thread that finishes a job's last one computes its SiLU and intermediate, and
  // a down item waits for its job's intermediate. So there is no barrier between the GEMMs:
  // the first jobs' downs run while the last jobs' gate and up finish. (A waiting thread only
  // ever waits for items already claimed by threads that do not wait.)
  const int64_t gate_up_items = gate_up_begin_[job_count];
  // The job whose items of one kind (begin: gate_up_begin_ or down_begin_) hold `item`.
  const auto job_of = [job_count](const std::vector<int64_t>& begin, int64_t item) {
    return std::upper_bound(begin.begin() + 1, begin.begin() + job_count + 1, item) -
           (begin.begin() + 1);
  };
  scheduler_->ForEach(phase, ExpertItems(job_count), [&](int part, int64_t item) {
    const bool gate_up = item < gate_up_items;
    const int64_t j =
        gate_up ? job_of(gate_up_begin_, item) : job_of(down_begin_, item - gate_up_items);
    const Job& job = jobs_[j];
    const ExpertPart& w = parts_[part].experts[job.expert];
    ExpertBuffers& buffers = buffers_of(parts_[part], j);
    JobState& state = job_states_[part * jobs_.size() + j];
    const kernels::Microkernel& kernel = KernelFor(job.rows.count);
    if (gate_up) {
      const int gate_up_slices = SliceCount(inter, job.slice_columns);
      const int64_t r = item - gate_up_begin_[j];
      const bool up = r % 2 == 1;
      errors.Record(kernels::Gemm(kernel, job.rows, inter, hidden, kernel_block_, *job.input,
                                  up ? w.up : w.gate, up ? buffers.up : buffers.gate,
                                  static_cast<int>(r / 2), gate_up_slices));
      if (state.done.fetch_add(1, std::memory_order_acq_rel) + 1 == 2 * gate_up_slices) {
        float* gate = buffers.gate.data() + job.rows.begin * inter;
        SiluMul(gate, buffers.up.data() + job.rows.begin * inter, gate, job.rows.count * inter);
        errors.Record(buffers.intermediate.For(kernel.path)
                          .Set("moe intermediate",
                               Eigen::Map<const RowMatrixXf>(gate, job.rows.count, inter),
                               job.rows.begin));
        state.ready.store(true, std::memory_order_release);
      }
      return;
    }
    WaitFor(state.ready);
    errors.Record(kernels::Gemm(kernel, job.rows, hidden, inter, kernel_block_,
                                buffers.intermediate.For(kernel.path), w.down, buffers.down,
                                static_cast<int>(item - gate_up_items - down_begin_[j]),
                                SliceCount(hidden, job.slice_columns)));
  });
}

void MoeLayer::ScatterAdd(int64_t qlen, int k, const int64_t* expert_ids,
                          const float* routing_weights, const int64_t* row_of_slot,
                          float* output) {
  const int64_t hidden = config_.hidden_size;
  // One token per iteration: each output row has one writer, and a fixed summation order.
#pragma omp for schedule(static)
  for (int64_t t = 0; t < qlen; ++t) {
    float* out = output + t * hidden;
    for (int j = 0; j < k; ++j) {
      const int64_t job = job_of_expert_[expert_ids[t * k + j]];
      const int64_t row = jobs_[job].rows.begin + row_of_slot[t * k + j];
      const float w = routing_weights[t * k + j];
      for (const Part& part : parts_) {
        const float* down = part.prefill->down.data() + row * hidden;
        for (int64_t c = 0; c < hidden; ++c) out[c] += w * down[c];
      }
    }
  }
}

std::string MoeLayer::KernelsLabel(KernelsUsed used, bool paths) const {
  const auto name = [paths](const kernels::Microkernel& kernel) {
    return paths ? std::string(kernels::PathName(kernel.path)) : std::string(kernel.name);
  };
  std::vector<std::string> names;
  for (const kernels::Microkernel* kernel : {kernel_, gemv_path_tile_kernel_, gemv_kernel_}) {
    if (used.Has(kernel) && absl::c_find(names, name(*kernel)) == names.end()) {
      names.push_back(name(*kernel));
    }
  }
  return absl::StrJoin(names, "+");
}

ExpertFloatWeights MoeLayer::DequantizedExpert(int64_t expert) const {
  const int64_t inter = config_.intermediate_size, hidden = config_.hidden_size;
  const int64_t part_inter = config_.part_intermediate_size();
  ExpertFloatWeights w{RowMatrixXf(inter, hidden), RowMatrixXf(inter, hidden),
                       RowMatrixXf(hidden, inter)};
  for (int p = 0; p < config_.tp_parts; ++p) {
    const ExpertPart& part = parts_[p].experts[expert];
    w.gate.middleRows(p * part_inter, part_inter) = part.gate.Dequantize();
    w.up.middleRows(p * part_inter, part_inter) = part.up.Dequantize();
    w.down.middleCols(p * part_inter, part_inter) = part.down.Dequantize();
  }
  return w;
}

int64_t MoeLayer::expert_streamed_bytes(int64_t expert) const {
  int64_t bytes = 0;
  for (const Part& part : parts_) {
    const ExpertPart& w = part.experts[expert];
    bytes += w.gate.streamed_bytes() + w.up.streamed_bytes() + w.down.streamed_bytes();
  }
  return bytes;
}

}  // namespace fp4moe::moe
