#ifndef FP4MOE_QUANT_MXFP4_H_
#define FP4MOE_QUANT_MXFP4_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "quant/matrix.h"

namespace fp4moe {

// MXFP4 (OCP Microscaling v1.0): E2M1 codes with one E8M0 power-of-two scale per 32
// elements of a row, as llama.cpp's MXFP4 and gpt-oss checkpoints use it.
struct Mxfp4Tensor {
  static constexpr int64_t kBlock = 32;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint8_t> packed;  // [rows, cols / 2], element 2j in the low nibble
  std::vector<uint8_t> scales;  // [rows, cols / 32], E8M0 codes
};

// The OCP rule: the block's shared exponent is floor(log2(block_amax)) - 2 (2 being E2M1's
// largest exponent), so the block maximum lands in [4, 8) and values above 6 saturate;
// clamped to E8M0's range [-127, 127]. An all-zero block gets code 0. q = e2m1(x / 2^X).
absl::StatusOr<Mxfp4Tensor> QuantizeMxfp4(std::string_view tensor, ConstRowMatrixRef w);
RowMatrixXf Dequantize(const Mxfp4Tensor& t);
// Sizes agree with the shape; no NaN (0xFF) scale.
absl::Status CheckConsistent(std::string_view tensor, const Mxfp4Tensor& t);

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_MXFP4_H_
