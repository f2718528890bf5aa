// BufferB: 4-bit weights packed for the kernels, from quantized tensors, raw checkpoint bytes or
// float weights.
#include "kernels/buffers.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "kernels/block_scale.h"
#include "quant/bf16.h"
#include "quant/blockwise.h"
#include "quant/e2m1.h"
#include "quant/validate.h"

namespace fp4moe::kernels {
namespace {

// Copies bytes into a fresh aligned buffer.
AlignedBuffer CopyBytes(const uint8_t* bytes, size_t size) {
  AlignedBuffer out(size);
  std::memcpy(out.data(), bytes, size);
  return out;
}

}  // namespace

BufferB::BufferB(WeightFormat format, int64_t n, int64_t k, int64_t block, ScaleKind kind,
                 float tensor_scale)
    : format_(format), scales_(n * (k / block) * ScaleBytes(kind)) {
  view_.n = n;
  view_.k = k;
  view_.block = block;
  view_.scale_kind = kind;
  view_.tensor_scale = tensor_scale;
  view_.scales = scales_.data();
}

absl::StatusOr<BufferB> BufferB::FromNvfp4(std::string_view name, const Nvfp4Tensor& t) {
  if (absl::Status s = CheckConsistent(name, t); !s.ok()) return s;
  BufferB b(WeightFormat::kNvfp4, t.rows, t.cols, kE2M1Block, ScaleKind::kE4M3, t.scale_2);
  b.codes_ = CopyBytes(t.packed.data(), t.packed.size());
  std::memcpy(b.scales_.data(), t.scales.data(), t.scales.size());
  b.view_.codes = b.codes_.data();
  return b;
}

absl::StatusOr<BufferB> BufferB::FromRawNvfp4(std::string_view name, int64_t n, int64_t k,
                                              const uint8_t* codes, const uint8_t* scales,
                                              float scale_2) {
  if (n <= 0 || k <= 0 || k % kE2M1Block != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: raw NVFP4 shape [%d, %d] must be positive with K a multiple of 16", name, n, k));
  }
  Nvfp4Tensor t;
  t.rows = n;
  t.cols = k;
  t.packed.assign(codes, codes + n * k / 2);
  t.scales.assign(scales, scales + n * k / kE2M1Block);
  t.scale_2 = scale_2;
  return FromNvfp4(name, t);
}

absl::StatusOr<BufferB> BufferB::FromFp4FloatScale(std::string_view name,
                                                   const Fp4FloatScaleTensor& t) {
  if (absl::Status s = CheckConsistent(name, t); !s.ok()) return s;
  BufferB b(WeightFormat::kFp4FloatScale, t.rows, t.cols, kE2M1Block, ScaleKind::kFloat32,
            1.0f);
  b.codes_ = CopyBytes(t.packed.data(), t.packed.size());
  std::memcpy(b.scales_.data(), t.scales.data(), t.scales.size() * sizeof(float));
  b.view_.codes = b.codes_.data();
  return b;
}

absl::StatusOr<BufferB> BufferB::FromMxfp4(std::string_view name, const Mxfp4Tensor& t) {
  if (absl::Status s = CheckConsistent(name, t); !s.ok()) return s;
  BufferB b(WeightFormat::kMxfp4, t.rows, t.cols, kE2M1Block, ScaleKind::kE8M0, 1.0f);
  b.codes_ = CopyBytes(t.packed.data(), t.packed.size());
  for (size_t i = 0; i < t.scales.size(); ++i) {
    b.scales_.data()[2 * i] = b.scales_.data()[2 * i + 1] = t.scales[i];
  }
  b.view_.codes = b.codes_.data();
  return b;
}

absl::StatusOr<BufferB> BufferB::FromInt4K2(std::string_view name, const Int4K2Tensor& t) {
  if (absl::Status s = CheckConsistent(name, t); !s.ok()) return s;
  const bool bf16 = t.scale_type == Int4ScaleType::kBf16;
  BufferB b(WeightFormat::kInt4K2, t.rows, t.cols, t.group_size,
            bf16 ? ScaleKind::kBf16 : ScaleKind::kFloat32, 1.0f);
  b.codes_ = CopyBytes(t.packed.data(), t.packed.size());
  for (size_t i = 0; i < t.scales.size(); ++i) {
    if (bf16) {
      const Bf16 bits = FloatToBf16(t.scales[i]);
      std::memcpy(b.scales_.data() + 2 * i, &bits, 2);
    } else {
      std::memcpy(b.scales_.data() + 4 * i, &t.scales[i], 4);
    }
  }
  b.view_.codes = b.codes_.data();
  return b;
}

absl::StatusOr<BufferB> BufferB::Quantize(std::string_view name, ConstRowMatrixRef w,
                                          WeightFormat format, int64_t group_size) {
  switch (format) {
    case WeightFormat::kNvfp4: {
      absl::StatusOr<Nvfp4Tensor> t = QuantizeNvfp4(name, w);
      if (!t.ok()) return t.status();
      return FromNvfp4(name, *t);
    }
    case WeightFormat::kFp4FloatScale: {
      absl::StatusOr<Fp4FloatScaleTensor> t = QuantizeFp4FloatScale(name, w);
      if (!t.ok()) return t.status();
      return FromFp4FloatScale(name, *t);
    }
    case WeightFormat::kMxfp4: {
      absl::StatusOr<Mxfp4Tensor> t = QuantizeMxfp4(name, w);
      if (!t.ok()) return t.status();
      return FromMxfp4(name, *t);
    }
    case WeightFormat::kInt4K2: {
      absl::StatusOr<Int4K2Tensor> t = QuantizeInt4K2(name, w, group_size);
      if (!t.ok()) return t.status();
      return FromInt4K2(name, *t);
    }
  }
  return absl::InvalidArgumentError(absl::StrFormat("%s: unknown weight format", name));
}

int64_t BufferB::streamed_bytes() const {
  return view_.n * view_.k / 2 + static_cast<int64_t>(scales_.size());
}

int64_t BufferB::resident_bytes() const {
  return static_cast<int64_t>(codes_.size() + scales_.size() + row_block_codes_.size() +
                              row_block_scales_.size());
}

RowMatrixXf BufferB::Dequantize() const {
  const bool int4 = format_ == WeightFormat::kInt4K2;
  return DequantizeBlockwise(
      view_.n, view_.k, view_.block, absl::MakeConstSpan(view_.codes, view_.n * view_.k / 2),
      [int4](uint8_t code) {
        return int4 ? static_cast<float>(DecodeInt4(code)) : DecodeE2M1(code);
      },
      [this](int64_t block_index) {
        return DecodeBlockScale(view_.scale_kind, view_.scales, block_index);
      },
      view_.tensor_scale);
}

BufferB BufferB::Clone() const {
  BufferB b(format_, view_.n, view_.k, view_.block, view_.scale_kind, view_.tensor_scale);
  b.codes_ = CopyBytes(codes_.data(), codes_.size());
  std::memcpy(b.scales_.data(), scales_.data(), scales_.size());
  b.view_.codes = b.codes_.data();
  if (view_.row_block_codes != nullptr) {
    b.row_block_codes_ = CopyBytes(row_block_codes_.data(), row_block_codes_.size());
    b.row_block_scales_ = CopyBytes(row_block_scales_.data(), row_block_scales_.size());
    b.view_.row_block_codes = b.row_block_codes_.data();
    b.view_.row_block_scales = b.row_block_scales_.data();
  }
  return b;
}

bool BufferB::CanAddRowBlocks() const {
  return format_ != WeightFormat::kInt4K2 && ScaleBytes(view_.scale_kind) == 1 &&
         view_.k % kColumnWindowK == 0 && view_.row_block_codes == nullptr;
}

BufferB BufferB::WithRowBlocks() const {
  BufferB b = Clone();
  if (!CanAddRowBlocks()) return b;
  const int64_t n = view_.n, k = view_.k;
  constexpr int64_t kWindowCodes = kColumnWindowK / 2, kWindowScales = kColumnWindowK / 16;
  const int64_t blocks = (n + kRowBlockRows - 1) / kRowBlockRows, windows = k / kColumnWindowK;
  b.row_block_codes_ = AlignedBuffer(blocks * windows * kRowBlockRows * kWindowCodes);
  b.row_block_scales_ = AlignedBuffer(blocks * windows * kRowBlockRows * kWindowScales);
  for (int64_t row = 0; row < n; ++row) {
    const int64_t block = row / kRowBlockRows, in_block = row % kRowBlockRows;
    for (int64_t w = 0; w < windows; ++w) {
      const int64_t slot = (block * windows + w) * kRowBlockRows + in_block;
      std::memcpy(b.row_block_codes_.data() + slot * kWindowCodes,
                  view_.codes + row * (k / 2) + w * kWindowCodes, kWindowCodes);
      std::memcpy(b.row_block_scales_.data() + slot * kWindowScales,
                  view_.scales + row * (k / 16) + w * kWindowScales, kWindowScales);
    }
  }
  b.view_.row_block_codes = b.row_block_codes_.data();
  b.view_.row_block_scales = b.row_block_scales_.data();
  return b;
}

}  // namespace fp4moe::kernels
