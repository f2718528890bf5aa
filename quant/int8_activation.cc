#include "quant/int8_activation.h"

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
  const int64_t groups = a.cols / group_size;
  a.scales.resize(a.rows * groups);
  for (int64_t r = 0; r < a.rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const auto values = x.row(r).segment(g * group_size, group_size);
      const float scale = values.cwiseAbs().maxCoeff() / 127.0f;
      a.scales[r * groups + g] = scale;
      for (int64_t i = 0; i < group_size; ++i) {
        // |x / scale| <= 127 up to rounding, and nearbyint keeps it there.
        a.values[r * a.cols + g * group_size + i] =
            scale == 0.0f ? 0 : static_cast<int8_t>(std::nearbyint(values(i) / scale));
      }
    }
  }
  return a;
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
