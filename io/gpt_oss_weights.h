#ifndef FP4MOE_IO_GPT_OSS_WEIGHTS_H_
#define FP4MOE_IO_GPT_OSS_WEIGHTS_H_

// gpt-oss's fused float experts (io/gpt_oss_layer.h has the layouts), quantized: what
// quantize --model writes for them, and LoadGptOssExperts reads back. Layer N's
// model.layers.N.mlp.experts.X becomes
// - MXFP4: gpt-oss's own release layout, gate_up_proj_{blocks,scales} and
//   down_proj_{blocks,scales}, gate and up still interleaved;
// - NVFP4, INT4 K2: one weight per expert and projection in io/checkpoint.h's naming,
//   model.layers.N.mlp.experts.E.{gate,up,down}_proj.*, gate and up taken apart, as the other
//   families name their experts (neither format has a fused convention).
// The biases (gate_up_proj_bias, down_proj_bias) are copied unchanged.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "moe/expert_weights.h"
#include "quant/format.h"
#include "quant/matrix.h"

namespace fp4moe::io {

// Expert e's part of a tensor whose first dimension is the experts.
TensorView ExpertView(const TensorView& tensor, int64_t e);

// Columns first, first + step, ... of expert e's float [rows, cols] (F32, BF16 or F16),
// transposed.
RowMatrixXf TransposedColumns(const TensorView& tensor, int64_t e, int64_t first, int64_t step);

// One of a layer's fused float expert tensors, gate_up_proj [E, H, 2I] or down_proj [E, I, H].
struct FusedFloatExperts {
  std::string path;  // of the shard, for messages
  const TensorView* tensor = nullptr;
  int64_t layer = 0;
  bool gate_up = false;
};

// OK where the tensor is F32, BF16 or F16 of the shape config.json gives; else an error
// naming the file and the tensor.
absl::Status CheckFusedFloat(const ModelConfig& config, const FusedFloatExperts& fused);

// Expert e quantized to `format`: for MXFP4 the rows as stored ([2I, H], gate and up
// interleaved, or [H, I]), for the other formats gate and up apart ([I, H] each), or down.
absl::StatusOr<std::vector<moe::QuantizedTensor>> QuantizeFusedExpert(
    const FusedFloatExperts& fused, int64_t e, WeightFormat format, int64_t group_size);

// Adds every expert's QuantizeFusedExpert result (in expert order) under the names above.
absl::Status AddFusedExperts(const ModelConfig& config, const FusedFloatExperts& fused,
                             WeightFormat format,
                             const std::vector<std::vector<moe::QuantizedTensor>>& experts,
                             SafetensorsWriter& writer);

}  // namespace fp4moe::io

#endif  // FP4MOE_IO_GPT_OSS_WEIGHTS_H_
