#ifndef FP4MOE_QUANT_INT4_K2_H_
#define FP4MOE_QUANT_INT4_K2_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "quant/matrix.h"

namespace fp4moe {

// How the group scales are kept. Kimi-K2's checkpoints keep BF16.
enum class Int4ScaleType { kBf16, kFloat32 };

// INT4 "K2", as compressed-tensors writes Kimi-K2's routed experts: symmetric signed int4 in
// -8..7, one scale per group of `group_size` along K. In memory the codes are two's-complement
// nibbles two per byte, element 2j in the low nibble (the checkpoint's I32 words hold q + 8;
// the safetensors reader converts).
struct Int4K2Tensor {
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t group_size = 32;
  Int4ScaleType scale_type = Int4ScaleType::kBf16;
  std::vector<uint8_t> packed;  // [rows, cols / 2]
  std::vector<float> scales;    // [rows, cols / group_size]; BF16 values when kBf16
};

// scale = group_amax / 7.5 in float32, at least float32's epsilon; with BF16 scales the scale
// is rounded to BF16 first, so that what is stored dequantizes as intended; then
// q = clamp(round_half_even(x / scale), -8, 7). group_size is 32, 64 or 128 (any positive
// divisor of K is accepted).
absl::StatusOr<Int4K2Tensor> QuantizeInt4K2(std::string_view tensor, ConstRowMatrixRef w,
                                            int64_t group_size = 32,
                                            Int4ScaleType scale_type = Int4ScaleType::kBf16);
RowMatrixXf Dequantize(const Int4K2Tensor& t);
// Sizes agree with the shape and group size; every scale finite and positive.
absl::Status CheckConsistent(std::string_view tensor, const Int4K2Tensor& t);
// The value -8..7 of a two's-complement nibble.
int8_t DecodeInt4(uint8_t code);

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_INT4_K2_H_
