#include "quant/mxfp4.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "quant/blockwise.h"
#include "quant/e2m1.h"
#include "quant/e8m0.h"
#include "quant/validate.h"

namespace fp4moe {
namespace {

constexpr int kE2M1MaxExponent = 2;  // 6 = 1.5 * 2^2

}  // namespace

absl::StatusOr<Mxfp4Tensor> QuantizeMxfp4(std::string_view tensor, ConstRowMatrixRef w) {
  if (absl::Status s = ValidateQuantizable(tensor, w, Mxfp4Tensor::kBlock); !s.ok()) return s;
  Mxfp4Tensor t;
  t.rows = w.rows();
  t.cols = w.cols();
  t.scales.resize(t.rows * t.cols / Mxfp4Tensor::kBlock);
  absl::StatusOr<std::vector<uint8_t>> packed = QuantizeBlockwise(
      tensor, w, Mxfp4Tensor::kBlock,
      [&](int64_t block_index, float block_amax) {
        uint8_t code = 0;
        if (block_amax > 0.0f) {
          // ilogb is floor(log2) exactly, subnormals included.
          const int exponent = std::clamp(std::ilogb(block_amax) - kE2M1MaxExponent, -127, 127);
          code = static_cast<uint8_t>(exponent + 127);
        }
        t.scales[block_index] = code;
        return DecodeE8M0(code);
      },
      EncodeE2M1);
  if (!packed.ok()) return packed.status();
  t.packed = *std::move(packed);
  return t;
}

RowMatrixXf Dequantize(const Mxfp4Tensor& t) {
  return DequantizeBlockwise(
      t.rows, t.cols, Mxfp4Tensor::kBlock, t.packed, DecodeE2M1,
      [&](int64_t block_index) { return DecodeE8M0(t.scales[block_index]); });
}

absl::Status CheckConsistent(std::string_view tensor, const Mxfp4Tensor& t) {
  if (absl::Status s = CheckBlockwiseSizes(tensor, t.rows, t.cols, Mxfp4Tensor::kBlock,
                                           t.packed.size(), t.scales.size());
      !s.ok()) {
    return s;
  }
  for (size_t i = 0; i < t.scales.size(); ++i) {
    if (t.scales[i] == kE8M0NaN) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: block scale %d is the E8M0 NaN code 0xFF", tensor, i));
    }
  }
  return absl::OkStatus();
}

}  // namespace fp4moe
