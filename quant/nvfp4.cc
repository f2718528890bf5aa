#include "quant/nvfp4.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "quant/blockwise.h"
#include "quant/e2m1.h"
#include "quant/e4m3.h"
#include "quant/validate.h"

namespace fp4moe {
namespace {

constexpr float kMinBlockScale = 0.001953125f;  // 2^-9, E4M3's smallest subnormal

}  // namespace

absl::StatusOr<Nvfp4Tensor> QuantizeNvfp4(std::string_view tensor, ConstRowMatrixRef w) {
  if (absl::Status s = ValidateQuantizable(tensor, w, Nvfp4Tensor::kBlock); !s.ok()) return s;
  const float amax = w.cwiseAbs().maxCoeff();
  if (amax == 0.0f) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: all elements are zero, NVFP4 has no tensor scale for it", tensor));
  }
  Nvfp4Tensor t;
  t.rows = w.rows();
  t.cols = w.cols();
  t.scale_2 = amax / (kE2M1Max * kE4M3Max);
  t.scales.resize(t.rows * t.cols / Nvfp4Tensor::kBlock);
  const float scale_2 = t.scale_2;
  absl::StatusOr<std::vector<uint8_t>> packed = QuantizeBlockwise(
      tensor, w, Nvfp4Tensor::kBlock,
      [&](int64_t block_index, float block_amax) {
        float s = block_amax / (kE2M1Max * scale_2);
        if (s == 0.0f) s = 1.0f;
        s = std::max(s, kMinBlockScale);
        const uint8_t code = EncodeE4M3(s);
        t.scales[block_index] = code;
        return DecodeE4M3(code) * scale_2;
      },
      EncodeE2M1);
  if (!packed.ok()) return packed.status();
  t.packed = *std::move(packed);
  return t;
}

RowMatrixXf Dequantize(const Nvfp4Tensor& t) {
  return DequantizeBlockwise(
      t.rows, t.cols, Nvfp4Tensor::kBlock, t.packed, DecodeE2M1,
      [&](int64_t block_index) { return DecodeE4M3(t.scales[block_index]); }, t.scale_2);
}

absl::Status CheckConsistent(std::string_view tensor, const Nvfp4Tensor& t) {
  if (absl::Status s = CheckBlockwiseSizes(tensor, t.rows, t.cols, Nvfp4Tensor::kBlock,
                                           t.packed.size(), t.scales.size());
      !s.ok()) {
    return s;
  }
  if (!(t.scale_2 > 0.0f) || !std::isfinite(t.scale_2)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: tensor scale (scale_2) %g is not finite and positive", tensor,
                        t.scale_2));
  }
  for (size_t i = 0; i < t.scales.size(); ++i) {
    if ((t.scales[i] & 0x7F) == kE4M3NaN) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: block scale %d (row %d, block %d) is NaN", tensor, i,
          i / (t.cols / Nvfp4Tensor::kBlock), i % (t.cols / Nvfp4Tensor::kBlock)));
    }
  }
  return absl::OkStatus();
}

}  // namespace fp4moe
