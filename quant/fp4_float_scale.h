#ifndef FP4MOE_QUANT_FP4_FLOAT_SCALE_H_
#define FP4MOE_QUANT_FP4_FLOAT_SCALE_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "quant/matrix.h"

namespace fp4moe {

// The research variant of the kt-kernel NVFP4 design: NVFP4's E2M1 codes and blocks of 16,
// but each block keeps a full float32 scale and there is no tensor scale. Experiments set it
// beside NVFP4 to show what the E4M3 two-level scaling costs (4 bytes per block instead of 1).
struct Fp4FloatScaleTensor {
  static constexpr int64_t kBlock = 16;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint8_t> packed;  // [rows, cols / 2], element 2j in the low nibble
  std::vector<float> scales;    // [rows, cols / 16]
};

// scale = block_amax / 6 in float32 (an all-zero block gets 1); q = e2m1(x / scale).
absl::StatusOr<Fp4FloatScaleTensor> QuantizeFp4FloatScale(std::string_view tensor,
                                                          ConstRowMatrixRef w);
RowMatrixXf Dequantize(const Fp4FloatScaleTensor& t);
// Sizes agree with the shape; every scale finite and positive.
absl::Status CheckConsistent(std::string_view tensor, const Fp4FloatScaleTensor& t);

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_FP4_FLOAT_SCALE_H_
