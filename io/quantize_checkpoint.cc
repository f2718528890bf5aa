#include "io/quantize_checkpoint.h"

#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/strings/str_format.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"

namespace fp4moe::io {
namespace {

constexpr absl::string_view kWeightSuffix = ".weight";

constexpr absl::string_view kFp8ScaleSuffix = ".weight_scale_inv";

// Names only quantized checkpoints have, beside their packed `.weight` (or instead of it).
constexpr struct {
  absl::string_view suffix, what;
} kQuantizedNames[] = {
    {".weight_packed", "INT4 words (compressed-tensors)"},
    {".weight_scale", "block scales (NVFP4, MXFP4 or compressed-tensors)"},
    {".weight_scale_2", "an NVFP4 tensor scale"},
    {kFp8ScaleSuffix, "FP8 block scales"},
    {"_proj_blocks", "MXFP4 blocks (gpt-oss's fused experts)"},
};

}  // namespace

// Quantizing a quantized checkpoint would copy its packed weights and quantize what it kept in
// float: a mixed checkpoint, not what was asked for.
absl::Status CheckNotQuantized(const std::vector<std::string>& names, std::string_view where,
                               bool allow_fp8) {
  for (const std::string& name : names) {
    for (const auto& [suffix, what] : kQuantizedNames) {
      if (allow_fp8 && suffix == kFp8ScaleSuffix) continue;
      if (absl::EndsWith(name, suffix)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: tensor '%s' holds %s: the checkpoint is already quantized, and quantize "
            "reads float checkpoints%s only",
            where, name, what, allow_fp8 ? " (and FP8 with block scales)" : ""));
      }
    }
  }
  return absl::OkStatus();
}

bool IsQuantizableMatrix(const TensorView& tensor, bool allow_fp8) {
  return tensor.shape.size() == 2 &&
         (tensor.dtype == Dtype::kF32 || tensor.dtype == Dtype::kBf16 ||
          tensor.dtype == Dtype::kF16 || (allow_fp8 && tensor.dtype == Dtype::kF8E4M3));
}

absl::Status QuantizeCheckpoint(const std::string& input, const std::string& output,
                                WeightFormat format, int64_t group_size) {
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(input);
  if (!file.ok()) return file.status();
  if (absl::Status s = CheckNotQuantized(file->names(), file->path(), /*allow_fp8=*/false);
      !s.ok()) return s;
  SafetensorsWriter writer;
  for (const auto& [key, value] : file->metadata()) writer.SetMetadata(key, value);
  for (const std::string& name : file->names()) {
    const TensorView& tensor = **file->Get(name);
    const bool weight_matrix = absl::EndsWith(name, kWeightSuffix) && tensor.shape.size() == 2;
    if (weight_matrix && IsFloatingPoint(tensor.dtype) &&
        !IsQuantizableMatrix(tensor, /*allow_fp8=*/false)) {
      // Copying it would leave a float weight unquantized, unasked.
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: tensor '%s' is %s: quantize reads F32, BF16 or F16 weights (FP8 ones with their "
          "block scales from a model folder, --model)",
          input, name, DtypeName(tensor.dtype)));
    }
    if (!weight_matrix || !IsQuantizableMatrix(tensor, /*allow_fp8=*/false)) {
      if (absl::Status s = writer.AddCopy(tensor); !s.ok()) return s;
      continue;
    }
    absl::StatusOr<RowMatrixXf> w = file->ReadMatrix(name);
    if (!w.ok()) return w.status();
    absl::StatusOr<moe::QuantizedTensor> q = QuantizeWeight(
        absl::StrFormat("%s: tensor '%s'", input, name), *w, format, group_size);
    if (!q.ok()) return q.status();
    const std::string_view base =
        std::string_view(name).substr(0, name.size() - kWeightSuffix.size());
    if (absl::Status s = AddQuantized(base, *q, writer); !s.ok()) return s;
  }
  return writer.Write(output);
}

}  // namespace fp4moe::io
