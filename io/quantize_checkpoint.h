#ifndef FP4MOE_IO_QUANTIZE_CHECKPOINT_H_
#define FP4MOE_IO_QUANTIZE_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "io/safetensors.h"
#include "quant/format.h"

namespace fp4moe::io {

// Reads `input`, quantizes every 2-D F32/BF16/F16 tensor named `*.weight` to `format` with
// quant's quantizer (group_size for INT4 K2 only), stores it under the naming of
// io/checkpoint.h, copies every other tensor and the metadata unchanged, and writes `output`
// atomically: on any error nothing is written.
// Refuses tensor names only quantized checkpoints have (packed weights, block scales), naming
// `where` and the tensor. `allow_fp8` lets FP8's weight_scale_inv through, for readers that
// dequantize FP8 weights first.
absl::Status CheckNotQuantized(const std::vector<std::string>& names, std::string_view where,
                               bool allow_fp8);

// Whether `tensor` is a matrix quantize can turn into a 4-bit format: 2-D F32, BF16 or F16, and
// with `allow_fp8` also F8_E4M3 (for readers that dequantize FP8 weights with their block
// scales first).
bool IsQuantizableMatrix(const TensorView& tensor, bool allow_fp8);

absl::Status QuantizeCheckpoint(const std::string& input, const std::string& output,
                                WeightFormat format, int64_t group_size);

}  // namespace fp4moe::io

#endif  // FP4MOE_IO_QUANTIZE_CHECKPOINT_H_
