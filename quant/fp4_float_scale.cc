#include "quant/fp4_float_scale.h"

#include <cmath>

#include "absl/strings/str_format.h"
#include "quant/blockwise.h"
#include "quant/e2m1.h"
#include "quant/validate.h"

namespace fp4moe {

absl::StatusOr<Fp4FloatScaleTensor> QuantizeFp4FloatScale(std::string_view tensor,
                                                          ConstRowMatrixRef w) {
  if (absl::Status s = ValidateQuantizable(tensor, w, Fp4FloatScaleTensor::kBlock); !s.ok()) {
    return s;
  }
  Fp4FloatScaleTensor t;
  t.rows = w.rows();
  t.cols = w.cols();
  t.scales.resize(t.rows * t.cols / Fp4FloatScaleTensor::kBlock);
  absl::StatusOr<std::vector<uint8_t>> packed = QuantizeBlockwise(
      tensor, w, Fp4FloatScaleTensor::kBlock,
      [&](int64_t block_index, float block_amax) {
        const float scale = block_amax == 0.0f ? 1.0f : block_amax / kE2M1Max;
        t.scales[block_index] = scale;
        return scale;
      },
      EncodeE2M1);
  if (!packed.ok()) return packed.status();
  t.packed = *std::move(packed);
  return t;
}

RowMatrixXf Dequantize(const Fp4FloatScaleTensor& t) {
  return DequantizeBlockwise(t.rows, t.cols, Fp4FloatScaleTensor::kBlock, t.packed, DecodeE2M1,
                             [&](int64_t block_index) { return t.scales[block_index]; });
}

absl::Status CheckConsistent(std::string_view tensor, const Fp4FloatScaleTensor& t) {
  if (absl::Status s = CheckBlockwiseSizes(tensor, t.rows, t.cols, Fp4FloatScaleTensor::kBlock,
                                           t.packed.size(), t.scales.size());
      !s.ok()) {
    return s;
  }
  return CheckPositiveScales(tensor, t.scales);
}

}  // namespace fp4moe
