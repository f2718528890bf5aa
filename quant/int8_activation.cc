#include "quant/int8_activation.h"

#include <algorithm>
#include <cmath>

#include "quant/validate.h"

namespace fp4moe {

absl::StatusOr<Int8Activations> QuantizeInt8(std::string_view tensor, ConstRowMatrixRef x,
                                             int64_t group_size) {
  if (group_size == 0) group_size = x.cols();
  if (absl::Status s = ValidateQuantizable(tensor, x, group_size); !s.ok()) return s;
  Int8Activations a;
  a.rows = x.rows();
  a.cols = x.cols();
  a.group_size = group_size;
  a.values.resize(a.rows * a.cols);
  a.scales.resize(a.rows * (a.cols / group_size));
  for (int64_t r = 0; r < a.rows; ++r) {
    QuantizeInt8Row(x.row(r).data(), a.cols, group_size, &a.values[r * a.cols],
                    &a.scales[r * (a.cols / group_size)]);
  }
  return a;
}

void QuantizeInt8Row(const float* x, int64_t k, int64_t group_size, int8_t* q, float* scales) {
  for (int64_t g = 0; g < k / group_size; ++g) {
    const float* group = x + g * group_size;
    float amax = 0.0f;
    for (int64_t i = 0; i < group_size; ++i) amax = std::max(amax, std::fabs(group[i]));
    const float scale = amax / 127.0f;
    scales[g] = scale;
    for (int64_t i = 0; i < group_size; ++i) {
      // |x / scale| is 127 at most up to rounding, except where scale, amax / 127, lost bits
      // to underflow (a subnormal amax): the clamp keeps that in range too.
      q[g * group_size + i] =
          scale == 0.0f ? 0
                        : static_cast<int8_t>(
                              std::clamp(std::nearbyint(group[i] / scale), -127.0f, 127.0f));
    }
  }
}

RowMatrixXf Dequantize(const Int8Activations& a) {
  RowMatrixXf out(a.rows, a.cols);
  const int64_t groups = a.cols / a.group_size;
  for (int64_t r = 0; r < a.rows; ++r) {
    for (int64_t c = 0; c < a.cols; ++c) {
      out(r, c) = a.values[r * a.cols + c] * a.scales[r * groups + c / a.group_size];
    }
  }
  return out;
}

}  // namespace fp4moe
