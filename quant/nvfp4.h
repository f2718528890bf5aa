#ifndef FP4MOE_QUANT_NVFP4_H_
#define FP4MOE_QUANT_NVFP4_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "quant/matrix.h"

namespace fp4moe {

// NVFP4 as NVIDIA's Model Optimizer stores a row-major [N, K] weight: E2M1 codes two per byte
// (element 2j in the low nibble), one E4M3 scale per 16 elements of a row, one float32 tensor
// scale. Element value = e2m1 * e4m3(scale) * scale_2.
struct Nvfp4Tensor {
  static constexpr int64_t kBlock = 16;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint8_t> packed;  // [rows, cols / 2]
  std::vector<uint8_t> scales;  // [rows, cols / 16], E4M3 codes
  float scale_2 = 0.0f;
};

// Model Optimizer's rule, every step in float32:
//   scale_2 = amax(|W|) / 2688                     (2688 = 6 * 448)
//   s = block_amax / (6 * scale_2); s == 0 -> 1; s = max(s, 2^-9); scale = e4m3(s)
//   q = e2m1(x / (e4m3_decode(scale) * scale_2))
// Errors: empty tensor, K not a multiple of 16, NaN/Inf, all-zero tensor (a stored tensor
// needs a positive scale_2).
absl::StatusOr<Nvfp4Tensor> QuantizeNvfp4(std::string_view tensor, ConstRowMatrixRef w);
// The same rule into caller storage, allocating nothing (dynamic activation quantization):
// codes into `packed` (exactly rows * cols / 2 bytes), E4M3 scales into `scales` (exactly
// rows * cols / 16); returns scale_2. `w` must have passed ValidateQuantizable. An all-zero
// tensor, which activations may be, is no error: it gets scale_2 = 1 (as an all-zero block
// gets s = 1), every block scale 1 and every code 0, so it dequantizes to zeros.
absl::StatusOr<float> QuantizeNvfp4Into(std::string_view tensor, ConstRowMatrixRef w,
                                        absl::Span<uint8_t> packed,
                                        absl::Span<uint8_t> scales);
RowMatrixXf Dequantize(const Nvfp4Tensor& t);
// For tensors assembled from raw bytes: sizes agree with the shape, no NaN block scale,
// scale_2 finite and positive.
absl::Status CheckConsistent(std::string_view tensor, const Nvfp4Tensor& t);

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_NVFP4_H_
