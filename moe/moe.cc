// MoeLayer's construction: kernel selection, weight packing per part and the workspace sized
// from the config (checked against the machine's memory first), and what the layer tells about
// its kernels and weights.

#include "moe/moe.h"

#include <omp.h>

#include <algorithm>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "files/out_of_memory.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm.h"
#include "kernels/microkernel_table.h"
#include "moe/numa.h"
#include "moe/parallel.h"
#include "moe/slice_count.h"

namespace fp4moe::moe {
namespace {

int64_t DecodeSlots(const MoeConfig& config) {
  return std::min<int64_t>(config.expert_num, kDecodeMaxTokens * config.num_experts_per_tok);
}

// The block the kernels quantize activations by: G for INT4 K2, else 16 (E2M1 weights are
// packed in blocks of 16 whatever the format's scale block).
int64_t KernelBlock(const MoeConfig& config) {
  return config.weight_format == WeightFormat::kInt4K2 ? config.group_size : Nvfp4Tensor::kBlock;
}

// `step`, with a std::bad_alloc it throws as ResourceExhausted: what passes CheckWorkspaceFits
// (the machine's memory) can still fail under a process memory limit (ulimit -v).
absl::Status CatchOutOfMemory(const MoeConfig& config, std::string_view doing,
                              const std::function<absl::Status()>& step) {
  return files::CatchOutOfMemory(
      [&] {
        return files::StrFormatOrBadAlloc(
            "MoeLayer: %s for max_len = %d tokens x num_experts_per_tok = %d routed rows", doing,
            config.max_len, config.num_experts_per_tok);
      },
      step);
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

// Bands of down products a one-part prefill keeps at once (DownRing): the band being written,
// the one being summed, and one of slack for the threads that finish a band late.
constexpr int64_t kDownRingBands = 3;

// Columns per routed row of a part's prefill down ring: kDownRingBands of its widest bands with
// one part. With several parts, room for every band: a down item of one part may then run ahead
// of another part's, and waiting for a slot that another part's band holds could wait forever
// where the team has fewer threads than parts.
int64_t PrefillDownColumns(const MoeConfig& config) {
  const int64_t tiles = SliceCount(config.hidden_size, kernels::kSliceColumns);
  const int64_t wide_bands = SliceCount(config.hidden_size, config.prefill_slice_columns);
  const int64_t wide_band_columns = DownBands::WidestBandColumns(tiles, wide_bands);
  // Bands of one tile each, or of the wide slices, whichever takes more columns in all.
  const int64_t every_band = std::max(tiles * kernels::kSliceColumns,
                                      wide_bands * wide_band_columns);
  return config.tp_parts == 1 ? std::min(every_band, kDownRingBands * wide_band_columns)
                              : every_band;
}

// The bytes per row of the buffers AllocateWorkspace allocates (they are linear in their
// rows): a part's gate and up outputs (and, in its prefill arena, its down ring; in its decode
// slots, the whole down rows), its intermediate quantized for `path`, and the input rows
// quantized for `path` (with the tile order and the column windows where the tile kernel reads
// them).
int64_t OutputBytesPerRow(const MoeConfig& config, bool prefill) {
  return 2 * kernels::BufferC::Bytes(1, config.part_intermediate_size()) +
         kernels::BufferC::Bytes(
             1, prefill ? PrefillDownColumns(config) : config.hidden_size);
}

int64_t IntermediateBytesPerRow(const MoeConfig& config, kernels::GemmPath path,
                                bool tile_order, bool column_windows) {
  return kernels::BufferA::Bytes(path, 1, config.part_intermediate_size(), KernelBlock(config),
                                 tile_order, column_windows);
}

int64_t InputBytesPerRow(const MoeConfig& config, kernels::GemmPath path, bool tile_order,
                         bool column_windows) {
  return kernels::BufferA::Bytes(path, 1, config.hidden_size, KernelBlock(config), tile_order,
                                 column_windows);
}

// The float input rounded to BF16 per token, where the tile kernel takes BF16 (Prefill). In
// double, as the workspace's size is checked before allocating it: any max_len is valid.
double RoundedTokensBytes(const MoeConfig& config, kernels::GemmPath tile_path) {
  return kernels::TakesBf16Activations(tile_path)
             ? static_cast<double>(config.max_len) * static_cast<double>(config.hidden_size) *
                   sizeof(uint16_t)
             : 0.0;
}

// Refuses a workspace larger than this machine's memory before allocating it: zero-filled,
// it would be touched at once and the process killed for memory. The prefill arenas, max_len *
// num_experts_per_tok rows, are what grows: for DeepSeek-V3 at max_len 4096 they make about
// 1.3 GB with one part (1.9 where the tile kernel reads the BF16 rows in tile order too, 2.5
// with column windows as well). In double: any max_len is a valid config. Decode buffers are
// of the GEMV kernel's path; prefill's of the tile kernel's (with the tile order where it
// reads one), plus `gemv_rows` rows of the GEMV kernel's where that differs.
absl::Status CheckWorkspaceFits(const MoeConfig& config, const kernels::Microkernel& tile_kernel,
                                kernels::GemmPath gemv_path, int64_t gemv_rows) {
  const kernels::GemmPath tile_path = tile_kernel.path;
  const double parts = config.tp_parts;
  const auto row_bytes = [&](kernels::GemmPath path, bool tiles, bool windows, bool outputs) {
    return parts * static_cast<double>((outputs ? OutputBytesPerRow(config, true) : 0) +
                                       IntermediateBytesPerRow(config, path, tiles, windows)) +
           static_cast<double>(InputBytesPerRow(config, path, tiles, windows));
  };
  const double prefill_rows =
      static_cast<double>(config.max_len) * static_cast<double>(config.num_experts_per_tok);
  double prefill = row_bytes(tile_path, kernels::ReadsTileOrder(tile_kernel),
                             kernels::ReadsColumnWindows(tile_kernel), true) *
                       prefill_rows +
                   RoundedTokensBytes(config, tile_path);
  if (gemv_path != tile_path) {
    prefill += row_bytes(gemv_path, false, false, false) * static_cast<double>(gemv_rows);
  }
  const double decode_rows = static_cast<double>(std::min(kDecodeMaxTokens, config.max_len));
  const double decode_slot_row = static_cast<double>(
      OutputBytesPerRow(config, false) + IntermediateBytesPerRow(config, gemv_path, false, false));
  const double workspace =
      prefill + (parts * DecodeSlots(config) * decode_slot_row +
                 static_cast<double>(InputBytesPerRow(config, gemv_path, false, false))) *
                    decode_rows;
  const double memory = static_cast<double>(kernels::PhysicalMemoryBytes());
  if (memory == 0 || workspace <= memory) return absl::OkStatus();  // 0: let allocation tell
  return absl::ResourceExhaustedError(absl::StrFormat(
      "MoeLayer::Create: the workspace for max_len = %d tokens x num_experts_per_tok = %d "
      "routed rows would take %.1f GB (%.1f GB of it the prefill arenas), more than this "
      "machine's %.1f GB of memory: lower max_len or num_experts_per_tok",
      config.max_len, config.num_experts_per_tok, workspace / 1e9, prefill / 1e9,
      memory / 1e9));
}

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
      down_bands_(config.expert_num, config.hidden_size),
      band_sums_(SliceCount(config.hidden_size, kernels::kSliceColumns)),
      job_states_(std::make_unique<JobState[]>(config.tp_parts * jobs_.size())),
      scheduler_(std::make_unique<PartScheduler>(config.num_threads, config.tp_parts,
                                                 numa_nodes)) {}

MoeLayer::~MoeLayer() = default;

absl::StatusOr<std::unique_ptr<MoeLayer>> MoeLayer::Create(
    const MoeConfig& config, absl::Span<const ExpertFloatWeights> experts,
    absl::Span<const ExpertBiases> biases) {
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
    // No exception may leave the OpenMP loop.
    absl::StatusOr<ExpertQuantizedWeights> q = files::CatchOutOfMemory(
        [e] { return files::StrFormatOrBadAlloc("MoeLayer::Create: quantizing expert %d", e); },
        [&] { return QuantizeExpert(config, e, experts[e]); });
    if (q.ok()) {
      quantized[e] = std::move(*q);
    } else {
      errors.Record(q.status());
    }
  }
  if (absl::Status s = errors.status(); !s.ok()) return s;
  return Create(config, quantized, biases);
}

absl::StatusOr<std::unique_ptr<MoeLayer>> MoeLayer::Create(
    const MoeConfig& config, absl::Span<const ExpertQuantizedWeights> experts,
    absl::Span<const ExpertBiases> biases) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  if (static_cast<int64_t>(experts.size()) != config.expert_num) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "MoeLayer::Create: %d experts given, config.expert_num = %d", experts.size(),
        config.expert_num));
  }
  if (!biases.empty() && static_cast<int64_t>(biases.size()) != config.expert_num) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "MoeLayer::Create: biases for %d experts given, config.expert_num = %d (or none)",
        biases.size(), config.expert_num));
  }
  for (size_t e = 0; e < biases.size(); ++e) {
    if (absl::Status s = CheckExpertBiases(config, e, biases[e]); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("MoeLayer::Create: ", s.message()));
    }
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
  if (absl::Status s = CheckWorkspaceFits(config, **kernel, *gemv_path, gemv_rows); !s.ok()) {
    return s;
  }
  std::unique_ptr<MoeLayer> layer;
  if (absl::Status s = CatchOutOfMemory(config, "allocating the routing tables", [&] {
        layer.reset(new MoeLayer(config, *kernel, *gemv_kernel, gemv_path_tile_kernel,
                                 gemv_below_rows, NumaNodesForParts()));
        return absl::OkStatus();
      });
      !s.ok()) {
    return s;
  }
  if (absl::Status s = layer->ForEachPart([&](int p) {
        return CatchOutOfMemory(config, "packing the weights",
                                [&] { return layer->PackPart(p, experts, biases); });
      });
      !s.ok()) {
    return s;
  }
  if (absl::Status s = layer->AllocateWorkspace(); !s.ok()) return s;
  return layer;
}

absl::Status MoeLayer::Reserve(int64_t max_len, int num_experts_per_tok) {
  if (max_len <= config_.max_len && num_experts_per_tok <= config_.num_experts_per_tok) {
    return absl::OkStatus();
  }
  MoeConfig grown = config_;
  grown.max_len = std::max(max_len, config_.max_len);
  grown.num_experts_per_tok = std::max(num_experts_per_tok, config_.num_experts_per_tok);
  if (absl::Status s = grown.Validate(); !s.ok()) return s;
  if (absl::Status s = CheckWorkspaceFits(grown, *kernel_, gemv_kernel_->path,
                                          PrefillGemvRows(grown, gemv_below_rows_));
      !s.ok()) {
    return s;
  }
  if (in_use_.exchange(true, std::memory_order_acquire)) {
    return absl::FailedPreconditionError(
        "MoeLayer::Reserve: a Forward call is running on this layer");
  }
  ReleaseWorkspace();
  config_ = grown;
  absl::Status s = CatchOutOfMemory(config_, "allocating the routing tables", [this] {
    grouping_ = ExpertGrouping(config_.expert_num, config_.max_len, config_.num_experts_per_tok);
    return absl::OkStatus();
  });
  if (s.ok()) s = AllocateWorkspace();
  // Without its workspace the layer must refuse every call (Forward checks qlen <= max_len).
  if (!s.ok()) config_.max_len = 0;
  in_use_.store(false, std::memory_order_release);
  return s;
}

absl::Status MoeLayer::UseTileKernel(const kernels::Microkernel& kernel) {
  if (kernel.path != kernel_->path) {
    return absl::InvalidArgumentError(
        absl::StrFormat("MoeLayer::UseTileKernel: %s is a kernel of path %s, the layer's is %s",
                        kernel.name, kernels::PathName(kernel.path),
                        kernels::PathName(kernel_->path)));
  }
  if (!kernels::CanRun(kernel, kernels::DetectedCpuFeatures())) {
    return absl::FailedPreconditionError(
        absl::StrFormat("MoeLayer::UseTileKernel: this CPU cannot run %s", kernel.name));
  }
  // A kernel that reads the activations in another layout gets a workspace that keeps it.
  const bool reallocate =
      kernels::ReadsColumnWindows(kernel) != kernels::ReadsColumnWindows(*kernel_);
  if (reallocate) {
    if (absl::Status s = CheckWorkspaceFits(config_, kernel, gemv_kernel_->path,
                                            PrefillGemvRows(config_, gemv_below_rows_));
        !s.ok()) {
      return s;
    }
  }
  if (in_use_.exchange(true, std::memory_order_acquire)) {
    return absl::FailedPreconditionError(
        "MoeLayer::UseTileKernel: a Forward call is running on this layer");
  }
  absl::Status s = absl::OkStatus();
  if (kernels::ReadsRowBlocks(kernel)) {
    // Only the buffers that take row blocks and lack them are copied.
    s = ForEachPart([this](int p) {
      return CatchOutOfMemory(config_, "giving the experts' weights row blocks", [&] {
        for (ExpertPart& expert : parts_[p].experts) {
          for (kernels::BufferB* b : {&expert.gate, &expert.up, &expert.down}) {
            if (b->CanAddRowBlocks()) *b = b->WithRowBlocks();
          }
        }
        return absl::OkStatus();
      });
    });
    if (!s.ok()) {
      in_use_.store(false, std::memory_order_release);
      return s;
    }
  }
  kernel_ = &kernel;
  if (reallocate) {
    ReleaseWorkspace();
    s = AllocateWorkspace();
    // Without its workspace the layer must refuse every call (Forward checks qlen <= max_len).
    if (!s.ok()) config_.max_len = 0;
  }
  in_use_.store(false, std::memory_order_release);
  return s;
}

absl::Status MoeLayer::ForEachPart(const std::function<absl::Status(int)>& part_fn) {
  std::vector<absl::Status> part_status(config_.tp_parts);
  if (numa_nodes_ > 1) {
    std::vector<std::thread> workers;
    for (int p = 0; p < config_.tp_parts; ++p) {
      workers.emplace_back([&, p] {
        BindThreadToNode(p % numa_nodes_);
        part_status[p] = part_fn(p);
      });
    }
    for (std::thread& t : workers) t.join();
  } else {
    for (int p = 0; p < config_.tp_parts; ++p) part_status[p] = part_fn(p);
  }
  for (const absl::Status& s : part_status) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status MoeLayer::PackPart(int part, absl::Span<const ExpertQuantizedWeights> experts,
                                absl::Span<const ExpertBiases> biases) {
  Part& p = parts_[part];
  for (int64_t e = 0; e < config_.expert_num; ++e) {
    absl::StatusOr<ExpertPart> packed =
        PackExpertPart(config_, e, experts[e], part, biases.empty() ? nullptr : &biases[e]);
    if (!packed.ok()) return packed.status();
    p.experts.push_back(std::move(*packed));
  }
  return absl::OkStatus();
}

void MoeLayer::ReleaseWorkspace() {
  for (Part& part : parts_) {
    part.prefill.reset();
    part.prefill_down = DownRing();
    part.decode.clear();
  }
  prefill_input_.reset();
  decode_input_.reset();
}

absl::Status MoeLayer::AllocateWorkspace() {
  constexpr std::string_view kDoing = "allocating the workspace";
  if (absl::Status s = ForEachPart([this, kDoing](int p) {
        return CatchOutOfMemory(config_, kDoing, [&] { return AllocatePartWorkspace(p); });
      });
      !s.ok()) {
    return s;
  }
  return CatchOutOfMemory(config_, kDoing, [this] { return AllocateInputs(); });
}

absl::Status MoeLayer::AllocateInputs() {
  const int64_t prefill_rows = PrefillRows(config_);
  absl::StatusOr<Activations> prefill_input =
      CreateActivations(kernel_->path, config_.hidden_size, prefill_rows,
                        PrefillGemvRows(config_, gemv_below_rows_));
  if (!prefill_input.ok()) return prefill_input.status();
  prefill_input_ = std::make_unique<PrefillInput>(PrefillInput{
      kernels::AlignedBuffer(static_cast<size_t>(RoundedTokensBytes(config_, kernel_->path))),
      std::move(*prefill_input)});
  absl::StatusOr<kernels::BufferA> decode_input =
      kernels::BufferA::Create(gemv_kernel_->path, std::min(kDecodeMaxTokens, config_.max_len),
                               config_.hidden_size, kernel_block_);
  if (!decode_input.ok()) return decode_input.status();
  decode_input_ = std::make_unique<kernels::BufferA>(std::move(*decode_input));
  return absl::OkStatus();
}

absl::Status MoeLayer::AllocatePartWorkspace(int part) {
  Part& p = parts_[part];
  const int64_t inter = config_.part_intermediate_size(), hidden = config_.hidden_size;
  const auto expert_buffers = [&](kernels::GemmPath path, int64_t rows,
                                  int64_t gemv_rows) -> absl::StatusOr<ExpertBuffers> {
    absl::StatusOr<Activations> intermediate = CreateActivations(path, inter, rows, gemv_rows);
    if (!intermediate.ok()) return intermediate.status();
    return ExpertBuffers{kernels::BufferC(rows, inter), kernels::BufferC(rows, inter),
                         std::move(*intermediate)};
  };
  absl::StatusOr<ExpertBuffers> prefill = expert_buffers(
      kernel_->path, PrefillRows(config_), PrefillGemvRows(config_, gemv_below_rows_));
  if (!prefill.ok()) return prefill.status();
  p.prefill = std::make_unique<ExpertBuffers>(std::move(*prefill));
  p.prefill_down = DownRing(hidden, PrefillRows(config_) * PrefillDownColumns(config_));
  const int64_t decode_rows = std::min(kDecodeMaxTokens, config_.max_len);
  for (int64_t s = 0; s < DecodeSlots(config_); ++s) {
    absl::StatusOr<ExpertBuffers> slot = expert_buffers(gemv_kernel_->path, decode_rows, 0);
    if (!slot.ok()) return slot.status();
    p.decode.push_back({std::move(*slot), kernels::BufferC(decode_rows, hidden)});
  }
  return absl::OkStatus();
}

absl::StatusOr<MoeLayer::Activations> MoeLayer::CreateActivations(kernels::GemmPath path,
                                                                  int64_t k, int64_t rows,
                                                                  int64_t gemv_rows) const {
  const bool tile_kernel_path = path == kernel_->path;
  absl::StatusOr<kernels::BufferA> first = kernels::BufferA::Create(
      path, rows, k, kernel_block_, tile_kernel_path && kernels::ReadsTileOrder(*kernel_),
      tile_kernel_path && kernels::ReadsColumnWindows(*kernel_));
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

int64_t MoeLayer::ExpertBytes(int64_t expert, int64_t (kernels::BufferB::*bytes)() const) const {
  int64_t sum = 0;
  for (const Part& part : parts_) {
    const ExpertPart& w = part.experts[expert];
    sum += (w.gate.*bytes)() + (w.up.*bytes)() + (w.down.*bytes)();
  }
  return sum;
}

int64_t MoeLayer::expert_streamed_bytes(int64_t expert) const {
  return ExpertBytes(expert, &kernels::BufferB::streamed_bytes);
}

int64_t MoeLayer::expert_resident_bytes(int64_t expert) const {
  return ExpertBytes(expert, &kernels::BufferB::resident_bytes);
}

}  // namespace fp4moe::moe
