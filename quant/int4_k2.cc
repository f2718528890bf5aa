#include "quant/int4_k2.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_format.h"
#include "quant/bf16.h"
#include "quant/blockwise.h"
#include "quant/validate.h"

namespace fp4moe {
namespace {

constexpr float kHalfRange = 7.5f;  // (7 - (-8)) / 2, compressed-tensors' symmetric range

uint8_t EncodeInt4(float quotient) {
  const float q = std::clamp(std::nearbyint(quotient), -8.0f, 7.0f);
  return static_cast<uint8_t>(static_cast<int>(q) & 0xF);
}

}  // namespace

int8_t DecodeInt4(uint8_t code) {
  return static_cast<int8_t>(static_cast<int8_t>(code << 4) >> 4);
}

absl::StatusOr<Int4K2Tensor> QuantizeInt4K2(std::string_view tensor, ConstRowMatrixRef w,
                                            int64_t group_size, Int4ScaleType scale_type) {
  if (absl::Status s = ValidateQuantizable(tensor, w, group_size); !s.ok()) return s;
  if (group_size % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: group size %d is odd; groups must fill whole bytes", tensor,
                        group_size));
  }
  Int4K2Tensor t;
  t.rows = w.rows();
  t.cols = w.cols();
  t.group_size = group_size;
  t.scale_type = scale_type;
  t.scales.resize(t.rows * t.cols / group_size);
  absl::StatusOr<std::vector<uint8_t>> packed = QuantizeBlockwise(
      tensor, w, group_size,
      [&](int64_t group_index, float group_amax) {
        float scale = std::max(group_amax / kHalfRange, std::numeric_limits<float>::epsilon());
        if (scale_type == Int4ScaleType::kBf16) scale = RoundToBf16(scale);
        t.scales[group_index] = scale;
        return scale;
      },
      EncodeInt4);
  if (!packed.ok()) return packed.status();
  t.packed = *std::move(packed);
  return t;
}

RowMatrixXf Dequantize(const Int4K2Tensor& t) {
  return DequantizeBlockwise(
      t.rows, t.cols, t.group_size, t.packed,
      [](uint8_t code) { return static_cast<float>(DecodeInt4(code)); },
      [&](int64_t group_index) { return t.scales[group_index]; });
}

absl::Status CheckConsistent(std::string_view tensor, const Int4K2Tensor& t) {
  if (absl::Status s = CheckBlockwiseSizes(tensor, t.rows, t.cols, t.group_size,
                                           t.packed.size(), t.scales.size());
      !s.ok()) {
    return s;
  }
  return CheckPositiveScales(tensor, t.scales);
}

}  // namespace fp4moe
