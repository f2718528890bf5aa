#include "quant/blockwise.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace fp4moe {

absl::StatusOr<std::vector<uint8_t>> QuantizeBlockwise(
    std::string_view tensor, ConstRowMatrixRef w, int64_t block,
    absl::FunctionRef<float(int64_t block_index, float block_amax)> divisor,
    absl::FunctionRef<uint8_t(float quotient)> encode) {
  std::vector<uint8_t> packed(w.rows() * w.cols() / 2);
  if (absl::Status s =
          QuantizeBlockwiseInto(tensor, w, block, divisor, encode, absl::MakeSpan(packed));
      !s.ok()) {
    return s;
  }
  return packed;
}

absl::Status QuantizeBlockwiseInto(
    std::string_view tensor, ConstRowMatrixRef w, int64_t block,
    absl::FunctionRef<float(int64_t block_index, float block_amax)> divisor,
    absl::FunctionRef<uint8_t(float quotient)> encode, absl::Span<uint8_t> packed) {
  if (packed.size() != static_cast<size_t>(w.rows() * w.cols() / 2)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %d bytes for the packed codes of [%d, %d], which need %d", tensor, packed.size(),
        w.rows(), w.cols(), w.rows() * w.cols() / 2));
  }
  const int64_t blocks_per_row = w.cols() / block;
  std::fill(packed.begin(), packed.end(), 0);
  for (int64_t r = 0; r < w.rows(); ++r) {
    for (int64_t b = 0; b < blocks_per_row; ++b) {
      const auto values = w.row(r).segment(b * block, block);
      const float d = divisor(r * blocks_per_row + b, values.cwiseAbs().maxCoeff());
      if (!(d > 0.0f) || !std::isfinite(d)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: row %d block %d gets scale %g, which float32 cannot divide by (tensor "
            "values too small)",
            tensor, r, b, d));
      }
      for (int64_t i = 0; i < block; ++i) {
        const int64_t index = r * w.cols() + b * block + i;
        packed[index / 2] |= static_cast<uint8_t>((encode(values(i) / d) & 0xF) << (4 * (index & 1)));
      }
    }
  }
  return absl::OkStatus();
}

RowMatrixXf DequantizeBlockwise(int64_t rows, int64_t cols, int64_t block,
                                absl::Span<const uint8_t> packed,
                                absl::FunctionRef<float(uint8_t code)> decode,
                                absl::FunctionRef<float(int64_t block_index)> block_scale,
                                float tensor_scale) {
  RowMatrixXf out(rows, cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const float scale = block_scale((r * cols + c) / block);
      out(r, c) = decode(NibbleAt(packed, r * cols + c)) * scale * tensor_scale;
    }
  }
  return out;
}

uint8_t NibbleAt(absl::Span<const uint8_t> packed, int64_t i) {
  return (packed[i / 2] >> (4 * (i & 1))) & 0xF;
}

absl::Status CheckBlockwiseSizes(std::string_view tensor, int64_t rows, int64_t cols,
                                 int64_t block, size_t packed_bytes, size_t scale_count) {
  if (rows <= 0 || cols <= 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: shape [%d, %d] is empty", tensor, rows, cols));
  }
  if (block <= 0 || cols % block != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: K = %d is not a multiple of the block size %d", tensor, cols, block));
  }
  if (packed_bytes != static_cast<size_t>(rows * cols / 2)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %d bytes of packed codes, but shape [%d, %d] needs %d", tensor, packed_bytes,
        rows, cols, rows * cols / 2));
  }
  if (scale_count != static_cast<size_t>(rows * (cols / block))) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %d block scales, but shape [%d, %d] with blocks of %d needs %d", tensor,
        scale_count, rows, cols, block, rows * (cols / block)));
  }
  return absl::OkStatus();
}

absl::Status CheckPositiveScales(std::string_view tensor, absl::Span<const float> scales) {
  for (size_t i = 0; i < scales.size(); ++i) {
    if (!(scales[i] > 0.0f) || !std::isfinite(scales[i])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: block scale %d is %g, not finite and positive", tensor, i, scales[i]));
    }
  }
  return absl::OkStatus();
}

}  // namespace fp4moe
