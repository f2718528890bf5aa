#ifndef FP4MOE_MOE_MOE_H_
#define FP4MOE_MOE_MOE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/aligned_buffer.h"
#include "kernels/buffers.h"
#include "kernels/gemm.h"
#include "kernels/microkernel.h"
#include "moe/band_sums.h"
#include "moe/down_bands.h"
#include "moe/expert_weights.h"
#include "moe/moe_config.h"
#include "moe/routing.h"

namespace fp4moe::moe {

// Calls with at most this many tokens take the decode path (weights streamed once for the
// whole batch, no grouping); longer ones the prefill path.
inline constexpr int64_t kDecodeMaxTokens = 4;

class FirstError;
// Kept out of this header: its OpenMP pragmas would warn in every file that includes the
// header without -fopenmp.
class PartScheduler;

// A mixture-of-experts layer with 4-bit expert weights:
//   output[t] = sum_j routing_weights[t, j] * down_e(silu(gate_e(x_t)) * up_e(x_t)),
// e = expert_ids[t, j], each GEMM run by the configured path's microkernel; optionally with
// float biases added to the three products and gpt-oss's clamped SwiGLU in place of SiLU.
//
// Every buffer is sized at Create (and Reserve) from max_len and the config; Forward allocates
// nothing, on every path (activations, all-zero ones included, are quantized into those
// buffers).
// Prefill works in one arena of R = max_len * num_experts_per_tok routed rows, as kt-kernel
// does: a call routes at most qlen * k rows (an expert's rows are its tokens), so each active
// expert takes its own contiguous range of them and all run at once. Per part the arena holds
// gate, up and intermediate rows and, of the down rows, a ring of a few bands of columns
// (moe/down_bands.h: each band is summed into the output as soon as every expert has written
// it; with several parts, every band), and one more holds the gathered, quantized input rows;
// decode has a slot of kDecodeMaxTokens rows per chosen expert. Experts that run the GEMV
// kernel take the arena's first rows: where its path is not the tile kernel's, their quantized
// input and intermediate have buffers of their own, of (gemv_below_rows() - 1) * expert_num
// rows. For DeepSeek-V3 at max_len 4096 and one part the workspace is about 1.3 GB (W4A16
// without the tile order; W4A8 2.3) to 2.7 GB (the AMX kernels' tile order and column windows
// besides); Create refuses one larger than the machine's memory.
// One Forward at a time per layer: the workspace is shared, so a call that starts while
// another runs returns FailedPrecondition; use one layer per concurrent caller.
class MoeLayer {
 public:
  // `experts` holds config.expert_num experts; float weights are quantized on load. `biases`
  // is empty (no biases) or holds one ExpertBiases per expert (gpt-oss), kept in float32.
  static absl::StatusOr<std::unique_ptr<MoeLayer>> Create(
      const MoeConfig& config, absl::Span<const ExpertFloatWeights> experts,
      absl::Span<const ExpertBiases> biases = {});
  static absl::StatusOr<std::unique_ptr<MoeLayer>> Create(
      const MoeConfig& config, absl::Span<const ExpertQuantizedWeights> experts,
      absl::Span<const ExpertBiases> biases = {});
  ~MoeLayer();

  // input and output [qlen, hidden_size] row-major; expert_ids and routing_weights [qlen, k].
  // 0 < qlen <= max_len, 1 <= k <= num_experts_per_tok. Arguments are checked before output
  // is written; an error from inside the computation (a non-finite intermediate, or a float
  // input beyond BF16's range where the kernels take BF16 activations) leaves output partly
  // written.
  absl::Status Forward(int64_t qlen, int k, const int64_t* expert_ids,
                       const float* routing_weights, const float* input, float* output);
  // The same with BF16 input.
  absl::Status Forward(int64_t qlen, int k, const int64_t* expert_ids,
                       const float* routing_weights, const uint16_t* input, float* output);

  // Grows the workspace to serve calls of up to `max_len` tokens of `num_experts_per_tok`
  // experts (sizes already served change nothing), keeping the packed weights: a caller whose
  // calls grow needs no second copy of the weights to create a larger layer from. The old
  // workspace is freed first. Refused, the layer unchanged, while a Forward runs and where the
  // larger workspace would not fit in memory (as Create refuses it).
  absl::Status Reserve(int64_t max_len, int num_experts_per_tok);

  const MoeConfig& config() const { return config_; }
  // Runs the tile kernel's products on `kernel` from the next Forward on: any kernel of the
  // same GEMM path this CPU runs (every kernel of a path reads the same packed weights), such as
  // a compared variant (kernels::Microkernel::variant) or an emulated copy, so that one process
  // can measure or check a layer both ways (moe_benchmark --tile_kernels). The activation
  // buffers stay as Create made them for its kernel (an AMX kernel given rows not in tile order
  // packs them itself), except that a kernel reading column windows where the last did not, or
  // the reverse, gets its workspace allocated anew (refused, the layer unchanged, where it would
  // not fit the memory; a failed allocation leaves the layer refusing calls, as Reserve's).
  // A kernel that reads the weights by row blocks (kernels::ReadsRowBlocks) gets every expert's
  // E2M1 weights in that layout too, beside the rows, from then on: twice their memory, a
  // benchmark's way to measure the layout (running out of memory is an error that leaves the
  // tile kernel as it was; the experts given row blocks keep them, which every kernel reads
  // correctly). Refused, the layer unchanged, for a kernel of another path or one this CPU
  // cannot run, and while a Forward runs.
  absl::Status UseTileKernel(const kernels::Microkernel& kernel);
  // The tile kernel, for products of at least gemv_below_rows() rows, and the kernels of the
  // GEMV path for products of fewer: that path is the tile kernel's, or ResolvePath's for
  // the int8 products of auto layers (W4A8 beside W4A16 for E2M1 formats, INT4 W4A8 beside
  // INT4 W4A16 on AMX). Its GEMV kernel takes the fewest rows, and its own tile kernel, where
  // it has one (INT4 W4A8 on AMX), those from that kernel's min_m; else both are the GEMV.
  const kernels::Microkernel& kernel() const { return *kernel_; }
  const kernels::Microkernel& gemv_kernel() const { return *gemv_kernel_; }
  const kernels::Microkernel& gemv_path_tile_kernel() const { return *gemv_path_tile_kernel_; }
  // kernel().min_m where both paths are one, else at least Int8PathMaxRows + 1.
  int64_t gemv_below_rows() const { return gemv_below_rows_; }
  // The kernel an expert's products run with for `rows` activation rows. A decode call
  // (qlen <= kDecodeMaxTokens) gives every chosen expert qlen rows; a prefill call gives each
  // expert the tokens routed to it, so one call may run all three kernels.
  const kernels::Microkernel& KernelFor(int64_t rows) const {
    if (!RunsGemv(rows)) return *kernel_;
    return rows >= gemv_path_tile_kernel_->min_m ? *gemv_path_tile_kernel_ : *gemv_kernel_;
  }
  // Whether products of `rows` rows run on the GEMV path.
  bool RunsGemv(int64_t rows) const { return rows < gemv_below_rows_; }
  // A set of the layer's kernels: which the last Forward that passed its argument checks ran
  // products with.
  struct KernelsUsed {
    std::array<const kernels::Microkernel*, 3> kernels = {};
    void Add(const kernels::Microkernel* kernel) {
      for (const kernels::Microkernel*& k : kernels) {
        if (k == kernel) return;
        if (k == nullptr) {
          k = kernel;
          return;
        }
      }
    }
    void Add(const KernelsUsed& other) {
      for (const kernels::Microkernel* k : other.kernels) {
        if (k != nullptr) Add(k);
      }
    }
    bool Has(const kernels::Microkernel* kernel) const {
      return absl::c_linear_search(kernels, kernel);
    }
  };
  KernelsUsed last_kernels_used() const { return last_kernels_used_; }
  // All three kernels of the layer.
  KernelsUsed AllKernels() const {
    KernelsUsed all;
    for (const kernels::Microkernel* k : {kernel_, gemv_path_tile_kernel_, gemv_kernel_}) {
      all.Add(k);
    }
    return all;
  }
  // The kernels of `used`, tile kernel first, joined by '+': their names, or with `paths` their
  // paths' names (each name once).
  std::string KernelsLabel(KernelsUsed used, bool paths = false) const;
  // The kernel whose peak bounds calls that ran `used`: the tile kernel where it ran (the
  // higher peak, so that the roof does not flatter), else the GEMV path's tile kernel, else
  // the GEMV kernel.
  const kernels::Microkernel& RoofKernel(KernelsUsed used) const {
    if (used.Has(kernel_)) return *kernel_;
    return used.Has(gemv_path_tile_kernel_) ? *gemv_path_tile_kernel_ : *gemv_kernel_;
  }
  // The block of K the kernels' scales cover, which int8 activations are grouped by: 16 for
  // every E2M1 format (MXFP4's 32 is stored twice), group_size for INT4 K2.
  int64_t kernel_block() const { return kernel_block_; }
  // Expert `expert`'s weights as the kernels see them, parts put back together.
  ExpertFloatWeights DequantizedExpert(int64_t expert) const;
  // Bytes of packed weights (codes and scales) one expert's three GEMMs stream.
  int64_t expert_streamed_bytes(int64_t expert) const;
  // Bytes one expert's weights hold: what they stream, and the row blocks UseTileKernel gives
  // them for a kernel that reads that layout.
  int64_t expert_resident_bytes(int64_t expert) const;

  // The input of a call, float or BF16 rows [qlen, hidden_size].
  struct Input {
    const float* f32 = nullptr;
    const uint16_t* bf16 = nullptr;
  };

 private:
  // Activations quantized for the kernels' paths: one buffer where both kernels share a path
  // (or only the GEMV kernel runs: decode), else a second one for the GEMV kernel's rows.
  struct Activations {
    kernels::BufferA first;
    std::unique_ptr<kernels::BufferA> gemv;  // its rows are the GEMV jobs' (first in arenas)
    kernels::BufferA& For(kernels::GemmPath path) {
      return path == first.path() ? first : *gemv;
    }
  };
  // Gate and up outputs and the quantized intermediate of the experts in flight in one part,
  // each expert on its own rows.
  struct ExpertBuffers {
    kernels::BufferC gate, up;  // [rows, intermediate / P]
    Activations intermediate;   // [rows, intermediate / P]
  };
  struct DecodeSlot {
    ExpertBuffers buffers;
    kernels::BufferC down;  // [rows, hidden]
  };
  struct Part {
    std::vector<ExpertPart> experts;
    std::unique_ptr<ExpertBuffers> prefill;  // the arena of routed rows
    DownRing prefill_down;                   // the arena's down products, a few bands at once
    std::vector<DecodeSlot> decode;          // a slot per decode job
  };
  // The prefill jobs' input rows quantized for their kernels, shared by the parts (an arena of
  // routed rows like Part::prefill), and where the tile kernel takes BF16, the float input
  // rounded once per token (max_len rows) for the jobs to gather from.
  struct PrefillInput {
    kernels::AlignedBuffer rounded_tokens;
    Activations quantized;
  };
  // An expert in flight: which, on which rows of its input and of its part's buffers (its
  // range of the arenas in prefill, rows [0, qlen) of its slot in decode).
  struct Job {
    int64_t expert = 0;
    kernels::RowRange rows;
    kernels::BufferA* input = nullptr;
    // Columns of one work item's slice of gate, up or down (a multiple of
    // kernels::kSliceColumns).
    int64_t slice_columns = kernels::kSliceColumns;
  };
  // Where job j of a call writes in a part: the prefill arena, or its decode slot; and where
  // its down products of band `band` go: the prefill's ring, or the slot's whole rows.
  using BuffersOfJob = ExpertBuffers& (*)(Part& part, int64_t job);
  using DownOfJob = kernels::OutputWindow (*)(Part& part, int64_t job, int band);

  // `bytes` of expert `expert`'s three weight buffers in every part, summed.
  int64_t ExpertBytes(int64_t expert, int64_t (kernels::BufferB::*bytes)() const) const;

  MoeLayer(const MoeConfig& config, const kernels::Microkernel* kernel,
           const kernels::Microkernel* gemv_kernel,
           const kernels::Microkernel* gemv_path_tile_kernel, int64_t gemv_below_rows,
           int numa_nodes);
  // Sets jobs_[j], job_of_expert_ and the job's work items (after those of jobs 0..j-1, which
  // must be assigned first, after down_bands_.Reset), and notes the kernel the job will run.
  void AssignJob(int64_t j, const Job& job);
  // Runs part_fn(p) for every part p, each on a thread bound to the part's NUMA node where
  // there are several (so that what it allocates lands there); the first error.
  absl::Status ForEachPart(const std::function<absl::Status(int)>& part_fn);
  absl::Status PackPart(int part, absl::Span<const ExpertQuantizedWeights> experts,
                        absl::Span<const ExpertBiases> biases);
  // The buffers config_ sizes: every part's prefill arena and decode slots, and the input's;
  // running out of memory is an error, not a std::bad_alloc.
  absl::Status AllocateWorkspace();
  // Frees it (before allocating it anew).
  void ReleaseWorkspace();
  absl::Status AllocatePartWorkspace(int part);
  absl::Status AllocateInputs();
  // Activations of `k` columns: `rows` rows quantized for `path` and, where the GEMV kernel's
  // path is another one, `gemv_rows` rows for it.
  absl::StatusOr<Activations> CreateActivations(kernels::GemmPath path, int64_t k, int64_t rows,
                                                int64_t gemv_rows) const;

  // ForwardChecked with the layer held for this call alone (an error if another call holds it).
  absl::Status ForwardAlone(int64_t qlen, int k, const int64_t* expert_ids,
                            const float* routing_weights, Input input, float* output);
  absl::Status ForwardChecked(int64_t qlen, int k, const int64_t* expert_ids,
                              const float* routing_weights, Input input, float* output);
  absl::Status Prefill(int64_t qlen, int k, const int64_t* expert_ids,
                       const float* routing_weights, Input input, float* output);
  absl::Status Decode(int64_t qlen, int k, const int64_t* expert_ids,
                      const float* routing_weights, Input input, float* output);
  // Readies the progress of jobs [0, job_count) of every part for a RunExperts.
  void ResetJobStates(int64_t job_count);
  // Items of RunExperts for job_count jobs, per part.
  int64_t ExpertItems(int64_t job_count) const;
  // Inside scheduler_->Parallel, on every thread: gate and up, SiLU, down for
  // jobs_[0, job_count), each in its rows of buffers_of(part, job) and down_of(part, job, band),
  // as phase `phase`, the downs in down_bands_' order. With `sums` (prefill), each down item
  // reports its band done, waits for its ring slot, and the thread runs ready sum chunks
  // (sum(band, chunk)) after each down item and while it waits; it returns once every chunk is
  // claimed. Without (decode), it returns when this thread finds no item left to claim: an
  // `omp barrier` must come before the downs are read.
  void RunExperts(int phase, int64_t job_count, BuffersOfJob buffers_of, DownOfJob down_of,
                  BandSums* sums, absl::FunctionRef<void(int band, int64_t chunk)> sum,
                  FirstError& errors);
  // out = columns [c0, c1) of token t's output (within band `band`), the routing-weighted sum of
  // its slots' down rows (WeightedRowSum, slot then part order, so that prefill and decode agree
  // to the bit), each slot's row that of its job in down_of(part, job, band): row
  // jobs_[job].rows.begin + row_of_slot[t * k + j] (prefill), or row t where row_of_slot is
  // null (decode).
  void SumDownRows(int64_t t, int k, const int64_t* expert_ids, const float* routing_weights,
                   DownOfJob down_of, int band, const int64_t* row_of_slot, int64_t c0,
                   int64_t c1, float* out);

  // Progress of one job in one part: gate and up slices done, and whether the intermediate
  // (SiLU and its quantization) is ready for the down slices. A cache line each, as threads
  // working on different jobs update them at once.
  struct alignas(64) JobState {
    std::atomic<int64_t> done{0};
    std::atomic<bool> ready{false};
  };

  MoeConfig config_;
  const kernels::Microkernel* kernel_;
  const kernels::Microkernel* gemv_kernel_;  // for products of fewer than gemv_below_rows_ rows
  const kernels::Microkernel* gemv_path_tile_kernel_;  // of those, from its min_m
  int64_t gemv_below_rows_;
  int numa_nodes_;
  int64_t kernel_block_;
  std::vector<Part> parts_;
  std::unique_ptr<PrefillInput> prefill_input_;
  std::unique_ptr<kernels::BufferA> decode_input_;
  ExpertGrouping grouping_;
  std::vector<Job> jobs_;
  std::vector<int64_t> job_of_expert_;  // -1 where the expert has no job in flight
  // Job j's first gate-and-up item among RunExperts' items of that kind; entry j + 1 ends
  // them. The down items, in bands, and the prefill's sums of them.
  std::vector<int64_t> gate_up_begin_;
  DownBands down_bands_;
  BandSums band_sums_;
  std::unique_ptr<JobState[]> job_states_;  // [tp_parts][jobs_.size()]
  KernelsUsed last_kernels_used_;
  std::unique_ptr<PartScheduler> scheduler_;
  std::atomic<bool> in_use_{false};
};

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_MOE_H_
