#include "moe/moe_config.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_format.h"
#include "kernels/gemm.h"
#include "kernels/microkernel_table.h"

namespace fp4moe::moe {
namespace {

absl::Status FieldError(std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrFormat("MoeConfig.%s: %s", field, why));
}

}  // namespace

int64_t MoeConfig::weight_block() const {
  return weight_format == WeightFormat::kInt4K2 ? group_size
                                                 : TraitsOf(weight_format).block_size;
}

absl::Status MoeConfig::Validate() const {
  if (expert_num <= 0) {
    return FieldError("expert_num", absl::StrFormat("must be positive, got %d", expert_num));
  }
  if (num_experts_per_tok <= 0 || num_experts_per_tok > expert_num) {
    return FieldError("num_experts_per_tok",
                      absl::StrFormat("must be in [1, expert_num = %d], got %d", expert_num,
                                      num_experts_per_tok));
  }
  if (max_len <= 0) {
    return FieldError("max_len", absl::StrFormat("must be positive, got %d", max_len));
  }
  // The workspace counts max_len x num_experts_per_tok routed rows in 64 bits.
  if (max_len > std::numeric_limits<int64_t>::max() / num_experts_per_tok) {
    return FieldError("max_len",
                      absl::StrFormat("%d tokens x num_experts_per_tok = %d routed rows do not "
                                      "fit 64 bits",
                                      max_len, num_experts_per_tok));
  }
  if (num_threads <= 0 || num_threads > kMaxThreads) {
    return FieldError("num_threads", absl::StrFormat("must be in [1, %d], got %d", kMaxThreads,
                                                     num_threads));
  }
  if (prefill_slice_columns <= 0 || prefill_slice_columns % kernels::kSliceColumns != 0 ||
      prefill_slice_columns > (int64_t{1} << 30)) {
    return FieldError("prefill_slice_columns",
                      absl::StrFormat("must be a positive multiple of %d up to 2^30, got %d",
                                      kernels::kSliceColumns, prefill_slice_columns));
  }
  if (tp_parts <= 0) {
    return FieldError("tp_parts", absl::StrFormat("must be positive, got %d", tp_parts));
  }
  if (weight_format == WeightFormat::kInt4K2 && group_size <= 0) {
    return FieldError("group_size", absl::StrFormat("must be positive, got %d", group_size));
  }
  const int64_t block = weight_block();
  if (hidden_size <= 0 || hidden_size % block != 0) {
    return FieldError("hidden_size",
                      absl::StrFormat("must be a positive multiple of the %s block %d, got %d",
                                      TraitsOf(weight_format).name, block, hidden_size));
  }
  if (intermediate_size <= 0 || intermediate_size % tp_parts != 0 ||
      part_intermediate_size() % block != 0) {
    return FieldError(
        "intermediate_size",
        absl::StrFormat("must be a positive multiple of tp_parts (%d) times the %s block %d "
                        "(each part's down projection has K = intermediate_size / tp_parts), "
                        "got %d",
                        tp_parts, TraitsOf(weight_format).name, block, intermediate_size));
  }
  if (activation == ExpertActivation::kClampedSwiglu &&
      !(swiglu_limit > 0 && std::isfinite(swiglu_limit))) {
    return FieldError("swiglu_limit",
                      absl::StrFormat("must be positive and finite, got %g", swiglu_limit));
  }
  if (path.has_value() && !kernels::PathTakesFormat(*path, weight_format)) {
    return FieldError("path", absl::StrFormat("%s does not take %s weights",
                                              kernels::PathName(*path),
                                              TraitsOf(weight_format).name));
  }
  return absl::OkStatus();
}

int64_t Int8PathMaxRows(const MoeConfig& config) {
  return config.weight_format == WeightFormat::kInt4K2 ? kInt4Int8MaxRows : kStreamingMaxRows;
}

absl::StatusOr<kernels::GemmPath> ResolvePath(const MoeConfig& config, int64_t rows) {
  if (config.path.has_value()) return *config.path;
  const bool int4 = config.weight_format == WeightFormat::kInt4K2;
  const kernels::GemmPath int8_path =
      int4 ? kernels::GemmPath::kInt4W4A8 : kernels::GemmPath::kFp4W4A8;
  const kernels::GemmPath bf16_path =
      int4 ? kernels::GemmPath::kInt4W4A16 : kernels::GemmPath::kFp4W4A16;
  if (rows <= Int8PathMaxRows(config)) return int8_path;
  absl::StatusOr<const kernels::Microkernel*> bf16 =
      kernels::SelectMicrokernel(bf16_path, config.isa);
  if (bf16.ok() && (*bf16)->isa == kernels::Isa::kAmx) return bf16_path;
  return int8_path;
}

}  // namespace fp4moe::moe
