#include "io/gpt_oss_weights.h"

#include <variant>

#include "absl/strings/str_format.h"
#include "files/out_of_memory.h"
#include "io/checkpoint.h"
#include "io/model_weights.h"
#include "quant/mxfp4.h"

namespace fp4moe::io {

TensorView ExpertView(const TensorView& t, int64_t e) {
  TensorView view;
  view.name = t.name;
  view.dtype = t.dtype;
  view.shape.assign(t.shape.begin() + 1, t.shape.end());
  const size_t bytes = t.bytes.size() / t.shape[0];
  view.bytes = t.bytes.subspan(e * bytes, bytes);
  return view;
}

RowMatrixXf TransposedColumns(const TensorView& t, int64_t e, int64_t first, int64_t step) {
  const TensorView view = ExpertView(t, e);
  const std::vector<float> values = FloatValues(view);
  const int64_t rows = view.shape[0], cols = view.shape[1];
  RowMatrixXf out((cols - first + step - 1) / step, rows);
  for (int64_t i = 0; i < out.rows(); ++i) {
    for (int64_t r = 0; r < rows; ++r) out(i, r) = values[r * cols + first + i * step];
  }
  return out;
}

absl::Status CheckFusedFloat(const ModelConfig& c, const FusedFloatExperts& fused) {
  const TensorView& t = *fused.tensor;
  const std::vector<int64_t> shape =
      fused.gate_up ? std::vector<int64_t>{c.num_experts, c.hidden_size, 2 * c.intermediate_size}
                    : std::vector<int64_t>{c.num_experts, c.intermediate_size, c.hidden_size};
  if (IsConvertibleToFloat(t.dtype) && t.shape == shape) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s: tensor '%s' is %s %s, expected F32, BF16 or F16 %s (experts, %s)", fused.path,
      t.name, DtypeName(t.dtype), ShapeString(t.shape), ShapeString(shape),
      fused.gate_up ? "hidden_size, 2 x intermediate_size"
                    : "intermediate_size, hidden_size"));
}

absl::StatusOr<std::vector<moe::QuantizedTensor>> QuantizeFusedExpert(
    const FusedFloatExperts& fused, int64_t e, WeightFormat format, int64_t group_size) {
  // MXFP4's scales are per row, so the interleaved rows quantize as gate and up apart would.
  const bool apart = fused.gate_up && format != WeightFormat::kMxfp4;
  std::vector<moe::QuantizedTensor> out;
  for (int part = 0; part < (apart ? 2 : 1); ++part) {
    absl::StatusOr<moe::QuantizedTensor> q = QuantizeWeight(
        files::StrFormatOrBadAlloc("%s: tensor '%s' expert %d%s", fused.path,
                                   fused.tensor->name, e,
                                   apart ? (part == 0 ? " gate" : " up") : ""),
        TransposedColumns(*fused.tensor, e, part, apart ? 2 : 1), format, group_size);
    if (!q.ok()) return q.status();
    out.push_back(*std::move(q));
  }
  return out;
}

absl::Status AddFusedExperts(const ModelConfig& config, const FusedFloatExperts& fused,
                             WeightFormat format,
                             const std::vector<std::vector<moe::QuantizedTensor>>& experts,
                             SafetensorsWriter& writer) {
  if (format != WeightFormat::kMxfp4) {
    const int projections[] = {kGateProj, kUpProj};
    for (size_t e = 0; e < experts.size(); ++e) {
      for (size_t part = 0; part < experts[e].size(); ++part) {
        const int p = fused.gate_up ? projections[part] : kDownProj;
        if (absl::Status s =
                AddQuantized(config.ExpertName(fused.layer, e, p), experts[e][part], writer);
            !s.ok()) {
          return s;
        }
      }
    }
    return absl::OkStatus();
  }
  std::vector<uint8_t> blocks, scales;
  int64_t rows = 0, cols = 0;
  for (const std::vector<moe::QuantizedTensor>& expert : experts) {
    const Mxfp4Tensor& t = std::get<Mxfp4Tensor>(expert.front());
    rows = t.rows;
    cols = t.cols;
    blocks.insert(blocks.end(), t.packed.begin(), t.packed.end());
    scales.insert(scales.end(), t.scales.begin(), t.scales.end());
  }
  const int64_t count = static_cast<int64_t>(experts.size());
  const int64_t groups = cols / Mxfp4Tensor::kBlock;
  const std::string name = absl::StrFormat("%s.%s", config.FusedExpertsName(fused.layer),
                                           fused.gate_up ? "gate_up_proj" : "down_proj");
  if (absl::Status s =
          writer.Add(name + "_blocks", Dtype::kU8, {count, rows, groups, 16}, blocks);
      !s.ok()) {
    return s;
  }
  return writer.Add(name + "_scales", Dtype::kU8, {count, rows, groups}, scales);
}

}  // namespace fp4moe::io
