#ifndef FP4MOE_QUANT_BLOCKWISE_H_
#define FP4MOE_QUANT_BLOCKWISE_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "quant/matrix.h"

namespace fp4moe {

// The loop every block-scaled 4-bit format shares. For each run of `block` elements of each
// row (block index r * (cols / block) + b), `divisor(block_index, block_amax)` decides the
// block's scale (recording it as the format stores it) and returns the number each element is
// divided by; `encode` turns the quotient into a 4-bit code. Returns the codes packed two per
// byte, element 2j in the low nibble. `w` must have passed ValidateQuantizable.
absl::StatusOr<std::vector<uint8_t>> QuantizeBlockwise(
    std::string_view tensor, ConstRowMatrixRef w, int64_t block,
    absl::FunctionRef<float(int64_t block_index, float block_amax)> divisor,
    absl::FunctionRef<uint8_t(float quotient)> encode);
// The same into caller storage of exactly rows * cols / 2 bytes (allocates nothing).
absl::Status QuantizeBlockwiseInto(
    std::string_view tensor, ConstRowMatrixRef w, int64_t block,
    absl::FunctionRef<float(int64_t block_index, float block_amax)> divisor,
    absl::FunctionRef<uint8_t(float quotient)> encode, absl::Span<uint8_t> packed);

// The inverse: element = (decode(code) * block_scale(block_index)) * tensor_scale.
RowMatrixXf DequantizeBlockwise(int64_t rows, int64_t cols, int64_t block,
                                absl::Span<const uint8_t> packed,
                                absl::FunctionRef<float(uint8_t code)> decode,
                                absl::FunctionRef<float(int64_t block_index)> block_scale,
                                float tensor_scale = 1.0f);

// The 4-bit code of element i of a packed array (element 2j in the low nibble).
uint8_t NibbleAt(absl::Span<const uint8_t> packed, int64_t i);

// The checks every quantized tensor shares, for tensors built from raw bytes: shape positive,
// K a multiple of `block`, the packed codes and the scales of the sizes the shape implies.
absl::Status CheckBlockwiseSizes(std::string_view tensor, int64_t rows, int64_t cols,
                                 int64_t block, size_t packed_bytes, size_t scale_count);

// OK when every scale is finite and positive; else names the first offending block.
absl::Status CheckPositiveScales(std::string_view tensor, absl::Span<const float> scales);

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_BLOCKWISE_H_
