#include "io/checkpoint.h"

#include <cmath>
#include <cstring>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "files/out_of_memory.h"
#include "io/sizes.h"
#include "quant/bf16.h"
#include "quant/format.h"

namespace fp4moe::io {
namespace {

constexpr int kNibblesPerWord = 8;
// compressed-tensors stores q + 8; flipping the top bit maps a two's-complement nibble onto it.
constexpr uint8_t kOffsetBinaryFlip = 0x8;

// How errors name a tensor of a file, as SafetensorsFile's own errors do.
std::string Label(const SafetensorsFile& file, std::string_view name) {
  return absl::StrFormat("%s: tensor '%s'", file.path(), name);
}

absl::Status ShapeError(const SafetensorsFile& file, std::string_view name,
                        std::string_view message) {
  return absl::InvalidArgumentError(absl::StrFormat("%s: %s", Label(file, name), message));
}

// The U8 [N, K/2] codes shared by NVFP4 and MXFP4; sets rows and cols.
absl::StatusOr<const TensorView*> ReadE2M1Codes(const SafetensorsFile& file,
                                                const std::string& name, int64_t block,
                                                int64_t& rows, int64_t& cols) {
  absl::StatusOr<const TensorView*> codes = file.Get(name);
  if (!codes.ok()) return codes.status();
  if ((*codes)->dtype != Dtype::kU8 || (*codes)->shape.size() != 2) {
    return ShapeError(file, name,
                      absl::StrFormat("is %s %s, expected U8 [N, K/2]",
                                      DtypeName((*codes)->dtype), ShapeString((*codes)->shape)));
  }
  rows = (*codes)->shape[0];
  const std::optional<int64_t> k = CheckedProduct({2, (*codes)->shape[1]});
  if (!k) {
    return ShapeError(file, name,
                      absl::StrFormat("K = 2 x %d overflows 64 bits", (*codes)->shape[1]));
  }
  cols = *k;
  if (cols % block != 0) {
    return ShapeError(file, name,
                      absl::StrFormat("K = %d is not a multiple of the block %d", cols, block));
  }
  return codes;
}

// A copy of a tensor's bytes.
absl::Status CopyBytes(const SafetensorsFile& file, const TensorView& tensor,
                       std::vector<uint8_t>& copy) {
  return AllocateChecked(Label(file, tensor.name), tensor.bytes.size(), 1,
                         [&] { copy.assign(tensor.bytes.begin(), tensor.bytes.end()); });
}

}  // namespace

absl::Status AddNvfp4(std::string_view name, const Nvfp4Tensor& t, SafetensorsWriter& writer,
                      std::optional<float> input_scale) {
  if (absl::Status s = CheckConsistent(name, t); !s.ok()) return s;
  const std::string base(name);
  if (absl::Status s = writer.Add(base + ".weight", Dtype::kU8, {t.rows, t.cols / 2}, t.packed);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = writer.Add(base + ".weight_scale", Dtype::kF8E4M3,
                                  {t.rows, t.cols / Nvfp4Tensor::kBlock}, t.scales);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = writer.AddF32(base + ".weight_scale_2", {}, {t.scale_2}); !s.ok()) return s;
  if (input_scale) return writer.AddF32(base + ".input_scale", {}, {*input_scale});
  return absl::OkStatus();
}

absl::Status AddMxfp4(std::string_view name, const Mxfp4Tensor& t, SafetensorsWriter& writer) {
  if (absl::Status s = CheckConsistent(name, t); !s.ok()) return s;
  const std::string base(name);
  if (absl::Status s = writer.Add(base + ".weight", Dtype::kU8, {t.rows, t.cols / 2}, t.packed);
      !s.ok()) {
    return s;
  }
  return writer.Add(base + ".weight_scale", Dtype::kU8, {t.rows, t.cols / Mxfp4Tensor::kBlock},
                    t.scales);
}

absl::Status AddInt4K2(std::string_view name, const Int4K2Tensor& t, SafetensorsWriter& writer) {
  if (absl::Status s = CheckConsistent(name, t); !s.ok()) return s;
  if (t.cols % kNibblesPerWord != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: K = %d is not a multiple of 8, so it does not fill whole I32 words", name, t.cols));
  }
  std::vector<int32_t> words(t.rows * t.cols / kNibblesPerWord);
  for (size_t w = 0; w < words.size(); ++w) {
    uint32_t word = 0;
    for (int i = 0; i < kNibblesPerWord; ++i) {
      const int64_t element = w * kNibblesPerWord + i;
      const uint8_t code = (t.packed[element / 2] >> (4 * (element % 2))) & 0xF;
      word |= uint32_t{static_cast<uint8_t>(code ^ kOffsetBinaryFlip)} << (4 * i);
    }
    std::memcpy(&words[w], &word, sizeof(word));
  }
  const std::string base(name);
  if (absl::Status s =
          writer.AddI32(base + ".weight_packed", {t.rows, t.cols / kNibblesPerWord}, words);
      !s.ok()) {
    return s;
  }
  const std::vector<int64_t> scale_shape = {t.rows, t.cols / t.group_size};
  absl::Status scales_added;
  if (t.scale_type == Int4ScaleType::kBf16) {
    std::vector<Bf16> bf16(t.scales.size());
    for (size_t i = 0; i < bf16.size(); ++i) bf16[i] = FloatToBf16(t.scales[i]);
    scales_added = writer.Add(
        base + ".weight_scale", Dtype::kBf16, scale_shape,
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(bf16.data()), bf16.size() * 2));
  } else {
    scales_added = writer.AddF32(base + ".weight_scale", scale_shape, t.scales);
  }
  if (!scales_added.ok()) return scales_added;
  const int32_t shape[] = {static_cast<int32_t>(t.rows), static_cast<int32_t>(t.cols)};
  return writer.AddI32(base + ".weight_shape", {2}, shape);
}

absl::Status AddQuantized(std::string_view name, const moe::QuantizedTensor& t,
                          SafetensorsWriter& writer) {
  // The stored layouts are built in memory (INT4 words, BF16 scales): under a process memory
  // limit (ulimit -v) that can fail although the tensor itself fitted.
  const auto [rows, cols] = QuantizedShape(t);
  return CatchOutOfMemory(
      [&] { return files::StrFormatOrBadAlloc("tensor '%s' to write", name); }, rows * cols / 2,
      [&]() -> absl::Status {
        if (const auto* nvfp4 = std::get_if<Nvfp4Tensor>(&t)) return AddNvfp4(name, *nvfp4, writer);
        if (const auto* mxfp4 = std::get_if<Mxfp4Tensor>(&t)) return AddMxfp4(name, *mxfp4, writer);
        if (const auto* int4 = std::get_if<Int4K2Tensor>(&t)) return AddInt4K2(name, *int4, writer);
        return absl::UnimplementedError(
            absl::StrFormat("%s: fp4_float_scale has no checkpoint naming", name));
      });
}

absl::StatusOr<Nvfp4Weight> ReadNvfp4(const SafetensorsFile& file, std::string_view name) {
  const std::string base(name);
  Nvfp4Weight w;
  Nvfp4Tensor& t = w.tensor;
  absl::StatusOr<const TensorView*> codes =
      ReadE2M1Codes(file, base + ".weight", Nvfp4Tensor::kBlock, t.rows, t.cols);
  if (!codes.ok()) return codes.status();
  absl::StatusOr<const TensorView*> scales = file.Get(
      base + ".weight_scale", Dtype::kF8E4M3, {t.rows, t.cols / Nvfp4Tensor::kBlock});
  if (!scales.ok()) return scales.status();
  absl::StatusOr<float> scale_2 = file.ReadScalar(base + ".weight_scale_2");
  if (!scale_2.ok()) return scale_2.status();
  if (absl::Status s = CopyBytes(file, **codes, t.packed); !s.ok()) return s;
  if (absl::Status s = CopyBytes(file, **scales, t.scales); !s.ok()) return s;
  t.scale_2 = *scale_2;
  const std::string input_scale_name = base + ".input_scale";
  if (file.contains(input_scale_name)) {
    absl::StatusOr<float> input_scale = file.ReadScalar(input_scale_name);
    if (!input_scale.ok()) return input_scale.status();
    // Checked like scale_2: it is a divisor of the activations wherever it is used.
    if (!(*input_scale > 0.0f) || !std::isfinite(*input_scale)) {
      return ShapeError(file, input_scale_name,
                        absl::StrFormat("%g is not finite and positive", *input_scale));
    }
    w.input_scale = *input_scale;
  }
  if (absl::Status s = CheckConsistent(Label(file, name), t); !s.ok()) return s;
  return w;
}

absl::StatusOr<Mxfp4Tensor> ReadMxfp4(const SafetensorsFile& file, std::string_view name) {
  const std::string base(name);
  Mxfp4Tensor t;
  absl::StatusOr<const TensorView*> codes =
      ReadE2M1Codes(file, base + ".weight", Mxfp4Tensor::kBlock, t.rows, t.cols);
  if (!codes.ok()) return codes.status();
  absl::StatusOr<const TensorView*> scales =
      file.Get(base + ".weight_scale", Dtype::kU8, {t.rows, t.cols / Mxfp4Tensor::kBlock});
  if (!scales.ok()) return scales.status();
  if (absl::Status s = CopyBytes(file, **codes, t.packed); !s.ok()) return s;
  if (absl::Status s = CopyBytes(file, **scales, t.scales); !s.ok()) return s;
  if (absl::Status s = CheckConsistent(Label(file, name), t); !s.ok()) return s;
  return t;
}

absl::StatusOr<Int4K2Tensor> ReadInt4K2(const SafetensorsFile& file, std::string_view name) {
  const std::string base(name);
  const std::string shape_name = base + ".weight_shape";
  absl::StatusOr<std::vector<int64_t>> shape = file.ReadIntegers(shape_name);
  if (!shape.ok()) return shape.status();
  if (shape->size() != 2 || (*shape)[0] < 0 || (*shape)[1] <= 0 ||
      (*shape)[1] % kNibblesPerWord != 0) {
    return ShapeError(file, shape_name,
                      absl::StrFormat("is %s, expected [N, K] with K a positive multiple of 8",
                                      ShapeString(*shape)));
  }
  Int4K2Tensor t;
  t.rows = (*shape)[0];
  t.cols = (*shape)[1];
  absl::StatusOr<const TensorView*> words =
      file.Get(base + ".weight_packed", Dtype::kI32, {t.rows, t.cols / kNibblesPerWord});
  if (!words.ok()) return words.status();
  const std::string scale_name = base + ".weight_scale";
  absl::StatusOr<const TensorView*> scales = file.Get(scale_name);
  if (!scales.ok()) return scales.status();
  const TensorView& s = **scales;
  if ((s.dtype != Dtype::kBf16 && s.dtype != Dtype::kF32) || s.shape.size() != 2 ||
      s.shape[0] != t.rows || s.shape[1] <= 0 || t.cols % s.shape[1] != 0) {
    return ShapeError(file, scale_name,
                      absl::StrFormat("is %s %s, expected BF16 or F32 [%d, K/G] with G dividing "
                                      "K = %d",
                                      DtypeName(s.dtype), ShapeString(s.shape), t.rows, t.cols));
  }
  t.group_size = t.cols / s.shape[1];
  t.scale_type = s.dtype == Dtype::kBf16 ? Int4ScaleType::kBf16 : Int4ScaleType::kFloat32;
  if (absl::Status st = AllocateChecked(Label(file, scale_name), s.numel(), sizeof(float),
                                        [&] { t.scales.resize(s.numel()); });
      !st.ok()) {
    return st;
  }
  for (size_t i = 0; i < t.scales.size(); ++i) {
    if (s.dtype == Dtype::kBf16) {
      Bf16 bits;
      std::memcpy(&bits, s.bytes.data() + 2 * i, 2);
      t.scales[i] = Bf16ToFloat(bits);
    } else {
      std::memcpy(&t.scales[i], s.bytes.data() + 4 * i, 4);
    }
  }
  // Two codes per byte: as many bytes as the words have (rows x K/8 words of 4 bytes).
  const absl::Span<const uint8_t> word_bytes = (*words)->bytes;
  if (absl::Status st = AllocateChecked(Label(file, (*words)->name), word_bytes.size(), 1,
                                        [&] { t.packed.assign(word_bytes.size(), 0); });
      !st.ok()) {
    return st;
  }
  for (size_t w = 0; w < word_bytes.size() / 4; ++w) {
    uint32_t word;
    std::memcpy(&word, word_bytes.data() + 4 * w, 4);
    for (int i = 0; i < kNibblesPerWord; ++i) {
      const int64_t element = w * kNibblesPerWord + i;
      const uint8_t code = static_cast<uint8_t>((word >> (4 * i)) & 0xF) ^ kOffsetBinaryFlip;
      t.packed[element / 2] |= code << (4 * (element % 2));
    }
  }
  if (absl::Status st = CheckConsistent(Label(file, name), t); !st.ok()) return st;
  return t;
}

absl::StatusOr<std::optional<WeightFormat>> StoredFormat(const SafetensorsFile& file,
                                                         std::string_view name) {
  const std::string base(name);
  if (file.contains(base + ".weight_packed")) return WeightFormat::kInt4K2;
  absl::StatusOr<const TensorView*> weight = file.Get(base + ".weight");
  if (!weight.ok()) {
    return absl::NotFoundError(absl::StrFormat(
        "%s: no tensor '%s.weight' or '%s.weight_packed'", file.path(), name, name));
  }
  switch ((*weight)->dtype) {
    case Dtype::kF32:
    case Dtype::kBf16:
    case Dtype::kF16:
      return std::optional<WeightFormat>();
    case Dtype::kU8: {
      absl::StatusOr<const TensorView*> scale = file.Get(base + ".weight_scale");
      if (!scale.ok()) return scale.status();
      if ((*scale)->dtype == Dtype::kF8E4M3) return WeightFormat::kNvfp4;
      if ((*scale)->dtype == Dtype::kU8) return WeightFormat::kMxfp4;
      return ShapeError(file, base + ".weight_scale",
                        absl::StrFormat("is %s; beside a U8 weight it must be F8_E4M3 (NVFP4) "
                                        "or U8 (MXFP4)",
                                        DtypeName((*scale)->dtype)));
    }
    default:
      return ShapeError(file, base + ".weight",
                        absl::StrFormat("is %s, expected F32, BF16, F16 or U8 (packed 4-bit)",
                                        DtypeName((*weight)->dtype)));
  }
}

absl::StatusOr<moe::QuantizedTensor> ReadQuantized(const SafetensorsFile& file,
                                                   std::string_view name) {
  absl::StatusOr<std::optional<WeightFormat>> format = StoredFormat(file, name);
  if (!format.ok()) return format.status();
  if (!format->has_value()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: '%s.weight' holds float weights, not a quantized tensor", file.path(), name));
  }
  switch (**format) {
    case WeightFormat::kNvfp4: {
      absl::StatusOr<Nvfp4Weight> w = ReadNvfp4(file, name);
      if (!w.ok()) return w.status();
      return moe::QuantizedTensor(std::move(w->tensor));
    }
    case WeightFormat::kMxfp4: {
      absl::StatusOr<Mxfp4Tensor> t = ReadMxfp4(file, name);
      if (!t.ok()) return t.status();
      return moe::QuantizedTensor(*std::move(t));
    }
    default: {
      absl::StatusOr<Int4K2Tensor> t = ReadInt4K2(file, name);
      if (!t.ok()) return t.status();
      return moe::QuantizedTensor(*std::move(t));
    }
  }
}

std::pair<int64_t, int64_t> QuantizedShape(const moe::QuantizedTensor& t) {
  return std::visit([](const auto& q) { return std::make_pair(q.rows, q.cols); }, t);
}

namespace {

absl::StatusOr<moe::QuantizedTensor> QuantizeWeightOrThrow(std::string_view name,
                                                           ConstRowMatrixRef w,
                                                           WeightFormat format,
                                                           int64_t group_size) {
  switch (format) {
    case WeightFormat::kNvfp4: {
      absl::StatusOr<Nvfp4Tensor> t = QuantizeNvfp4(name, w);
      if (!t.ok()) return t.status();
      return moe::QuantizedTensor(*std::move(t));
    }
    case WeightFormat::kMxfp4: {
      absl::StatusOr<Mxfp4Tensor> t = QuantizeMxfp4(name, w);
      if (!t.ok()) return t.status();
      return moe::QuantizedTensor(*std::move(t));
    }
    case WeightFormat::kInt4K2: {
      absl::StatusOr<Int4K2Tensor> t = QuantizeInt4K2(name, w, group_size);
      if (!t.ok()) return t.status();
      return moe::QuantizedTensor(*std::move(t));
    }
    default:
      return absl::UnimplementedError(
          absl::StrFormat("%s: fp4_float_scale has no checkpoint naming", name));
  }
}

}  // namespace

absl::StatusOr<moe::QuantizedTensor> QuantizeWeight(std::string_view name, ConstRowMatrixRef w,
                                                    WeightFormat format, int64_t group_size) {
  // The quantizers allocate the codes and scales: under a process memory limit (ulimit -v)
  // that can fail although the copy it quantizes fitted.
  return CatchOutOfMemory(
      [&] { return files::StrFormatOrBadAlloc("%s as %s", name, TraitsOf(format).name); },
      static_cast<int64_t>(w.rows()) * w.cols() / 2,
      [&] { return QuantizeWeightOrThrow(name, w, format, group_size); });
}

}  // namespace fp4moe::io
