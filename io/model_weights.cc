#include "io/model_weights.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "files/out_of_memory.h"
#include "io/checkpoint.h"
#include "quant/e4m3.h"

namespace fp4moe::io {
namespace {

// The tensors each quantized naming has beside W (io/checkpoint.h).
std::vector<std::string> SuffixesOf(WeightFormat format) {
  switch (format) {
    case WeightFormat::kNvfp4:
      return {"weight", "weight_scale", "weight_scale_2", "input_scale"};
    case WeightFormat::kInt4K2:
      return {"weight_packed", "weight_scale", "weight_shape"};
    default:
      return {"weight", "weight_scale"};
  }
}

// The file to read a quantized weight W from: W.*'s shard, or where the index splits them
// between shards, the folder's join of them. Every tensor W.* must be one its format has.
absl::StatusOr<const SafetensorsFile*> QuantizedWeightFile(ModelFolder& folder,
                                                           const std::string& name,
                                                           WeightFormat format) {
  const std::vector<std::string> suffixes = SuffixesOf(format);
  const std::vector<std::string> tensors = folder.NamesWithPrefix(name + ".");
  const SafetensorsFile* shard = nullptr;
  bool split = false;
  for (const std::string& tensor : tensors) {
    const std::string_view suffix = std::string_view(tensor).substr(name.size() + 1);
    if (std::find(suffixes.begin(), suffixes.end(), suffix) == suffixes.end()) {
      return absl::UnimplementedError(absl::StrFormat(
          "%s: tensor '%s' beside a %s weight is not supported (%s has only %s; "
          "compressed-tensors' weight_zero_point and weight_g_idx, of asymmetric or reordered "
          "INT4, are not)",
          folder.weights_path(), tensor, TraitsOf(format).name, TraitsOf(format).name,
          absl::StrJoin(suffixes, ", ")));
    }
    absl::StatusOr<const SafetensorsFile*> in = folder.ShardOf(tensor);
    if (!in.ok()) return in.status();
    split = split || (shard != nullptr && *in != shard);
    shard = *in;
  }
  if (split) return folder.Joined(tensors);
  return shard;
}

}  // namespace

std::vector<float> FloatValues(const TensorView& t) {
  std::vector<float> values(t.numel());
  ConvertToFloat(t, values.data());
  return values;
}

namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

absl::StatusOr<RowMatrixXf> DequantizeFp8(const StoredWeight& w,
                                          std::array<int64_t, 2> block) {
  const TensorView& codes = *w.weight;
  const TensorView& scale = *w.scale_inv;
  const int64_t rows = codes.shape[0], cols = codes.shape[1];
  const std::vector<int64_t> expected = {CeilDiv(rows, block[0]), CeilDiv(cols, block[1])};
  if ((scale.dtype != Dtype::kF32 && scale.dtype != Dtype::kBf16) || scale.shape != expected) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: tensor '%s' is %s %s, expected F32 or BF16 %s: '%s' is %s in blocks of %d x %d "
        "(quantization_config.weight_block_size)",
        w.file->path(), scale.name, DtypeName(scale.dtype), ShapeString(scale.shape),
        ShapeString(expected), codes.name, ShapeString(codes.shape), block[0], block[1]));
  }
  const std::vector<float> scales = FloatValues(scale);
  for (size_t i = 0; i < scales.size(); ++i) {
    if (!std::isfinite(scales[i])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: tensor '%s' block (%d, %d) is %g, not finite", w.file->path(), scale.name,
          i / expected[1], i % expected[1], scales[i]));
    }
  }
  float decoded[256];
  for (int code = 0; code < 256; ++code) decoded[code] = DecodeE4M3(static_cast<uint8_t>(code));
  RowMatrixXf m(rows, cols);
  for (int64_t i = 0; i < rows; ++i) {
    const uint8_t* row = codes.bytes.data() + i * cols;
    const float* row_scales = scales.data() + (i / block[0]) * expected[1];
    for (int64_t j = 0; j < cols; ++j) {
      const float value = decoded[row[j]];
      if (std::isnan(value)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: tensor '%s' element (%d, %d) is an FP8 NaN", w.file->path(), codes.name, i, j));
      }
      m(i, j) = value * row_scales[j / block[1]];
    }
  }
  return m;
}

}  // namespace

absl::StatusOr<StoredWeight> FindWeight(ModelFolder& folder, const std::string& name) {
  StoredWeight w;
  w.name = name;
  std::optional<WeightFormat> quantized;
  if (folder.contains(name + ".weight_packed")) {
    quantized = WeightFormat::kInt4K2;
  } else {
    if (!folder.contains(name + ".weight")) {
      return absl::NotFoundError(absl::StrFormat(
          "%s: no tensor '%s.weight' (nor '%s.weight_packed')", folder.weights_path(), name,
          name));
    }
    absl::StatusOr<const SafetensorsFile*> shard = folder.ShardOf(name + ".weight");
    if (!shard.ok()) return shard.status();
    w.file = *shard;
    w.weight = *(*shard)->Get(name + ".weight");
    const TensorView& t = *w.weight;
    w.storage = std::string(DtypeName(t.dtype));
    if (t.dtype == Dtype::kU8) {
      // NVFP4 or MXFP4, told apart by the dtype of W.weight_scale.
      absl::StatusOr<const TensorView*> scale = folder.Get(name + ".weight_scale");
      if (!scale.ok()) return scale.status();
      if ((*scale)->dtype != Dtype::kF8E4M3 && (*scale)->dtype != Dtype::kU8) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: tensor '%s' is %s; beside a U8 weight it must be F8_E4M3 (NVFP4) or U8 (MXFP4)",
            folder.weights_path(), (*scale)->name, DtypeName((*scale)->dtype)));
      }
      quantized = (*scale)->dtype == Dtype::kF8E4M3 ? WeightFormat::kNvfp4 : WeightFormat::kMxfp4;
    } else if (t.shape.size() != 2 ||
               (t.dtype != Dtype::kF32 && t.dtype != Dtype::kBf16 && t.dtype != Dtype::kF16 &&
                t.dtype != Dtype::kF8E4M3)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: tensor '%s' is %s %s, expected a 2-D weight: F32, BF16, F16, F8_E4M3 (with "
          "weight_scale_inv) or U8 (packed 4-bit)",
          w.file->path(), t.name, DtypeName(t.dtype), ShapeString(t.shape)));
    } else if (t.dtype == Dtype::kF8E4M3) {
      const std::string scale = name + ".weight_scale_inv";
      if (!folder.contains(scale)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: FP8 tensor '%s' has no '%s' beside it (only FP8 with DeepSeek's block scales "
            "is supported)",
            folder.weights_path(), t.name, scale));
      }
      absl::StatusOr<const TensorView*> s = folder.Get(scale);
      if (!s.ok()) return s.status();
      w.scale_inv = *s;
    }
  }
  if (quantized) {
    absl::StatusOr<const SafetensorsFile*> shard = QuantizedWeightFile(folder, name, *quantized);
    if (!shard.ok()) return shard.status();
    w.file = *shard;
    w.format = quantized;
    w.storage = std::string(TraitsOf(*quantized).name);
    w.weight = nullptr;
  }
  return w;
}

absl::StatusOr<RowMatrixXf> ReadFloatWeight(const StoredWeight& weight,
                                            std::array<int64_t, 2> fp8_block) {
  if (weight.format) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: weight '%s' is stored as %s, not as floats", weight.file->path(), weight.name,
        weight.storage));
  }
  if (weight.scale_inv != nullptr) return DequantizeFp8(weight, fp8_block);
  return weight.file->ReadMatrix(weight.weight->name);
}

absl::StatusOr<moe::QuantizedTensor> LoadWeightAs(const StoredWeight& weight,
                                                  WeightFormat format, int64_t group_size,
                                                  std::array<int64_t, 2> fp8_block) {
  if (weight.format) {
    if (*weight.format != format) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: weight '%s' is stored as %s, but the layer runs %s", weight.file->path(),
          weight.name, weight.storage, TraitsOf(format).name));
    }
    return ReadQuantized(*weight.file, weight.name);
  }
  absl::StatusOr<RowMatrixXf> floats = ReadFloatWeight(weight, fp8_block);
  if (!floats.ok()) return floats.status();
  // Named by StrFormatOrBadAlloc: this runs in OpenMP loops, where running out of memory in
  // StrFormat would abort instead of throwing std::bad_alloc to the loop's catch.
  return QuantizeWeight(
      files::StrFormatOrBadAlloc("%s: weight '%s'", weight.file->path(), weight.name), *floats,
      format, group_size);
}

}  // namespace fp4moe::io
