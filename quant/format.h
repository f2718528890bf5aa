#ifndef FP4MOE_QUANT_FORMAT_H_
#define FP4MOE_QUANT_FORMAT_H_

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace fp4moe {

// The 4-bit weight formats the testbed compares.
enum class WeightFormat {
  kNvfp4,          // E2M1, E4M3 scale per 16, FP32 tensor scale (NVIDIA Model Optimizer)
  kFp4FloatScale,  // E2M1, FP32 scale per 16, no tensor scale (the kt-kernel NVFP4 design)
  kMxfp4,          // E2M1, E8M0 power-of-two scale per 32 (OCP Microscaling)
  kInt4K2,         // signed int4 -8..7, BF16 scale per group of G along K (Kimi-K2)
};

enum class ScaleType { kE4M3, kFloat32, kE8M0, kBf16 };

struct FormatTraits {
  WeightFormat format;
  std::string_view name;  // as written in configs and on the command line
  int element_bits;
  int block_size;  // elements sharing one scale; the default where it is configurable
  bool configurable_block_size;
  ScaleType scale_type;
  int scale_bytes;
  bool has_tensor_scale;

  int bytes_per_block() const { return block_size * element_bits / 8 + scale_bytes; }
  // Storage per weight, scales included (the per-tensor scale is negligible), with `block`
  // elements per scale (INT4 K2's group size) or the format's own block.
  double bits_per_weight(int64_t block) const { return element_bits + 8.0 * scale_bytes / block; }
  double bits_per_weight() const { return bits_per_weight(block_size); }
};

absl::Span<const FormatTraits> AllWeightFormats();
const FormatTraits& TraitsOf(WeightFormat format);
// Accepts the names in the traits table ("nvfp4", "fp4_float_scale", "mxfp4", "int4_k2").
absl::StatusOr<WeightFormat> ParseWeightFormat(std::string_view name);

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_FORMAT_H_
