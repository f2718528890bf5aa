#ifndef FP4MOE_MOE_MOE_CONFIG_H_
#define FP4MOE_MOE_MOE_CONFIG_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/microkernel.h"
#include "quant/format.h"

namespace fp4moe::moe {

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
  // Tensor-parallel parts (one per NUMA node where there are several): part p owns rows
  // [p * I / P, (p + 1) * I / P) of gate and up and those columns of down.
  int tp_parts = 1;

  // OK, or InvalidArgument naming the first offending field and why.
  absl::Status Validate() const;

  // The weight block along K: the format's block, or group_size for INT4 K2.
  int64_t weight_block() const;
  int64_t part_intermediate_size() const { return intermediate_size / tp_parts; }
};

// The path `config` runs on this CPU: the forced one, or for E2M1 formats kFp4W4A16 where an
// AVX-512 or AMX kernel of it runs (BF16 activations are the most accurate and such a kernel
// is fast), else kFp4W4A8; for INT4 K2, kInt4W4A8. W4A4 is used only when forced.
absl::StatusOr<kernels::GemmPath> ResolvePath(const MoeConfig& config);

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_MOE_CONFIG_H_
