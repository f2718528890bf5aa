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
  if (w.cwiseAbs().maxCoeff() == 0.0f) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: all elements are zero, NVFP4 has no tensor scale for it", tensor));
  }
  Nvfp4Tensor t;
  t.rows = w.rows();
  t.cols = w.cols();
  t.packed.resize(t.rows * t.cols / 2);
  t.scales.resize(t.rows * t.cols / Nvfp4Tensor::kBlock);
  absl::StatusOr<float> scale_2 =
      QuantizeNvfp4Into(tensor, w, absl::MakeSpan(t.packed), absl::MakeSpan(t.scales));
  if (!scale_2.ok()) return scale_2.status();
  t.scale_2 = *scale_2;
  return t;
}

absl::StatusOr<float> QuantizeNvfp4Into(std::string_view tensor, ConstRowMatrixRef w,
                                        absl::Span<uint8_t> packed,
                                        absl::Span<uint8_t> scales) {
  if (scales.size() != static_cast<size_t>(w.rows() * (w.cols() / Nvfp4Tensor::kBlock))) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %d bytes for the block scales of [%d, %d], which need %d", tensor, scales.size(),
        w.rows(), w.cols(), w.rows() * (w.cols() / Nvfp4Tensor::kBlock)));
  }
  const float amax = w.cwiseAbs().maxCoeff();
  const float scale_2 = amax == 0.0f ? 1.0f : amax / (kE2M1Max * kE4M3Max);
  if (absl::Status status = QuantizeBlockwiseInto(
          tensor, w, Nvfp4Tensor::kBlock,
          [&](int64_t block_index, float block_amax) {
            float s = block_amax / (kE2M1Max * scale_2);
            if (s == 0.0f) s = 1.0f;
            s = std::max(s, kMinBlockScale);
            const uint8_t code = EncodeE4M3(s);
            scales[block_index] = code;
            return DecodeE4M3(code) * scale_2;
          },
          EncodeE2M1, packed);
      !status.ok()) {
    return status;
  }
  return scale_2;
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
