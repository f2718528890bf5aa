#ifndef FP4MOE_QUANT_INT8_ACTIVATION_H_
#define FP4MOE_QUANT_INT8_ACTIVATION_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "quant/matrix.h"

namespace fp4moe {

// Activations quantized symmetrically to int8, one scale per row per group of K.
struct Int8Activations {
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t group_size = 0;      // == cols for one scale per row
  std::vector<int8_t> values;  // [rows, cols]
  std::vector<float> scales;   // [rows, cols / group_size]
};

// scale = group_amax / 127 (float32); q = round_half_even(x / scale) clamped to -127..127; an
// all-zero group gets scale 0 and zeros. group_size 0 means one group per row.
absl::StatusOr<Int8Activations> QuantizeInt8(std::string_view tensor, ConstRowMatrixRef x,
                                             int64_t group_size = 0);
RowMatrixXf Dequantize(const Int8Activations& a);

// One row of the rule above, into caller memory (the kernels' BufferA uses it so that both
// quantize identically): q[0..k), scales[0..k / group_size). x must be finite.
void QuantizeInt8Row(const float* x, int64_t k, int64_t group_size, int8_t* q, float* scales);

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_INT8_ACTIVATION_H_
