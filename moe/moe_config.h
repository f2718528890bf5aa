#ifndef FP4MOE_MOE_MOE_CONFIG_H_
#define FP4MOE_MOE_MOE_CONFIG_H_

#include <cstdint>
#include <limits>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/gemm.h"
#include "kernels/microkernel.h"
#include "quant/format.h"

namespace fp4moe::moe {

// What an expert computes between its gate-up and down products.
enum class ExpertActivation {
  kSiluMul,        // silu(gate) * up: DeepSeek, Kimi, Qwen3, Mixtral
  kClampedSwiglu,  // gpt-oss's SwiGLU with gate and up clamped to swiglu_limit (moe/elementwise.h)
};

// Prefill jobs of at least this many rows take slices of MoeConfig::prefill_slice_columns (others
// slices of kernels::kSliceColumns) where the call still has kMinSliceItemsPerThread slices a
// thread, so that skewed routing (one expert, all tokens) keeps every thread busy.
inline constexpr int64_t kWideSliceRows = 32;
inline constexpr int64_t kMinSliceItemsPerThread = 4;

// A tile kernel packs or re-reads its job's whole input for every slice, so narrow slices of a
// long input repeat that work (the W4A16 AMX kernel at m = 128, k = 7168, 16 threads on the Xeon:
// 2.6 to 2.9 TFLOPS on 64-column slices, 3.1 on 128).
inline constexpr int64_t kDefaultPrefillSliceColumns = 4 * kernels::kSliceColumns;

// The shape and execution settings of one MoE layer, after kt-kernel's GeneralMOEConfig.
struct MoeConfig {
  int64_t expert_num = 0;
  int num_experts_per_tok = 0;  // top-k; Forward accepts any k from 1 to this
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  // Most tokens one Forward call takes. With num_experts_per_tok it sizes the workspace, an
  // arena of max_len * num_experts_per_tok routed rows (MoeLayer::Create refuses one larger
  // than the machine's memory, naming its size).
  int64_t max_len = 0;
  WeightFormat weight_format = WeightFormat::kNvfp4;
  int64_t group_size = 32;  // INT4 K2 only; E2M1 formats use their fixed block
  std::optional<kernels::GemmPath> path;  // nullopt: the most accurate fast path (AutoPath)
  std::optional<kernels::Isa> isa;        // nullopt: the best this CPU runs
  int num_threads = 1;
  // Columns of a prefill job's wide slices (see kWideSliceRows): a positive multiple of
  // kernels::kSliceColumns.
  int64_t prefill_slice_columns = kDefaultPrefillSliceColumns;
  // Tensor-parallel parts (one per NUMA node where there are several): part p owns rows
  // [p * I / P, (p + 1) * I / P) of gate and up and those columns of down.
  int tp_parts = 1;
  ExpertActivation activation = ExpertActivation::kSiluMul;
  float swiglu_limit = 7.0f;  // kClampedSwiglu only

  // OK, or InvalidArgument naming the first offending field and why.
  absl::Status Validate() const;

  // The weight block along K: the format's block, or group_size for INT4 K2.
  int64_t weight_block() const;
  int64_t part_intermediate_size() const { return intermediate_size / tp_parts; }
};

// The most threads a layer or a sweep case may ask for: more than any machine fp4moe runs on
// has cores (libgomp crashed creating 100000), so a larger count is a typo, refused with a
// message rather than a crash.
inline constexpr int kMaxThreads = 1024;

// Products of at most this many activation rows stream their weights: every product of a
// decode call, and those of the experts that few tokens chose in a prefill call.
inline constexpr int64_t kStreamingMaxRows = 12;

// Auto INT4 K2 layers run products of up to this many rows on kInt4W4A8: its AVX-512 GEMV, and
// from 8 rows its AMX INT8 kernel, which beats kInt4W4A16 on AMX there (Xeon, 16 threads,
// weights streamed, 2048 x 7168 and 7168 x 2048: 16 rows 0.24 to 0.26 ms against 0.28 to 0.30,
// 32 rows even, 64 rows 0.69 to 0.70 against 0.56 to 0.61).
inline constexpr int64_t kInt4Int8MaxRows = 31;

// The most rows an auto layer of `config` runs a product of on its int8 path: kStreamingMaxRows
// for E2M1 formats, kInt4Int8MaxRows for INT4 K2.
int64_t Int8PathMaxRows(const MoeConfig& config);

// The path `config` runs a product of `rows` activation rows with on this CPU: the forced one; else
// the BF16 path (kFp4W4A16, kInt4W4A16) where an AMX kernel of it runs (BF16 tiles with the scales
// folded into the weights beat the INT8 tiles' per-block float epilogue), else the int8 path
// (kFp4W4A8, kInt4W4A8): without AMX, VNNI dot products beat AVX-512 BF16 ones at any row count
// (2048 x 7168, NVFP4, 128 / 1024 rows: Zen 4 on 2 threads 8.4 / 69 ms against 13.8 / 114, the
// Xeon's AVX-512 on 16 1.19 / 9.4 against 3.66 / 27.7; the Qwen3-30B-A3B layer at qlen 512 on Zen 4
// 151 against 177 ms) at the same accuracy (README, Accuracy: 0.0736 against 0.0734 on the quick
// default's GEMM). Auto products of at most Int8PathMaxRows rows take the int8 path in any case:
// for E2M1 formats its GEMV streams the weights faster than W4A16's kernels, AMX included (Xeon, 16
// threads, weights streamed, 2048 x 7168 and 7168 x 2048: 8 rows 0.16 to 0.20 ms against 0.25 to
// 0.31, 12 rows 0.20 to 0.32 against 0.26 to 0.31, even at 16), and its int8 activations, one scale
// per 16 or per group, add far less error than the weights' 4 bits. W4A4 is used only when forced.
// The default `rows` gives the path of the layer's tile kernel.
absl::StatusOr<kernels::GemmPath> ResolvePath(
    const MoeConfig& config, int64_t rows = std::numeric_limits<int64_t>::max());

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_MOE_CONFIG_H_
