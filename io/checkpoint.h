#ifndef FP4MOE_IO_CHECKPOINT_H_
#define FP4MOE_IO_CHECKPOINT_H_

// Quantized weights in safetensors, under the names real checkpoints use. For a weight `W`
// (e.g. "model.layers.3.mlp.experts.7.gate_proj"), [N, K] row-major:
//
// NVFP4, NVIDIA Model Optimizer naming:
//   W.weight          U8       [N, K/2]   E2M1 codes, element 2j in the low nibble
//   W.weight_scale    F8_E4M3  [N, K/16]
//   W.weight_scale_2  F32      [] (or [1] when read)
//   W.input_scale     F32      [] optional activation scale; kept when read, not used here
//
// INT4 K2, compressed-tensors "pack-quantized" naming (Kimi-K2's routed experts):
//   W.weight_packed   I32      [N, K/8]   element 8j+i in bits 4i..4i+3 of word j, as q + 8
//   W.weight_scale    BF16     [N, K/G]   (F32 for Int4ScaleType::kFloat32)
//   W.weight_shape    I32      [2]        [N, K] (I64 accepted when read)
//
// MXFP4, our own naming (gpt-oss stores the same bytes as `_blocks` / `_scales` of fused
// experts; one tensor per weight is simpler and mirrors NVFP4's):
//   W.weight          U8       [N, K/2]   E2M1 codes, element 2j in the low nibble
//   W.weight_scale    U8       [N, K/32]  E8M0 codes
// A U8 `.weight` is NVFP4 or MXFP4 by the dtype of its `.weight_scale`.

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/safetensors.h"
#include "moe/expert_weights.h"
#include "quant/format.h"
#include "quant/int4_k2.h"
#include "quant/matrix.h"
#include "quant/mxfp4.h"
#include "quant/nvfp4.h"

namespace fp4moe::io {

struct Nvfp4Weight {
  Nvfp4Tensor tensor;
  std::optional<float> input_scale;
};

absl::Status AddNvfp4(std::string_view name, const Nvfp4Tensor& t, SafetensorsWriter& writer,
                      std::optional<float> input_scale = std::nullopt);
absl::Status AddMxfp4(std::string_view name, const Mxfp4Tensor& t, SafetensorsWriter& writer);
// K must be a multiple of 8 (whole I32 words).
absl::Status AddInt4K2(std::string_view name, const Int4K2Tensor& t, SafetensorsWriter& writer);
// Any of the three above; the FP4 float-scale variant has no checkpoint naming (Unimplemented).
absl::Status AddQuantized(std::string_view name, const moe::QuantizedTensor& t,
                          SafetensorsWriter& writer);

// Readers check dtypes and shapes against each other and the tensor with CheckConsistent
// (NaN scales, non-positive scale_2), naming the file and the tensor.
absl::StatusOr<Nvfp4Weight> ReadNvfp4(const SafetensorsFile& file, std::string_view name);
absl::StatusOr<Mxfp4Tensor> ReadMxfp4(const SafetensorsFile& file, std::string_view name);
absl::StatusOr<Int4K2Tensor> ReadInt4K2(const SafetensorsFile& file, std::string_view name);

// How weight `name` is stored: nullopt for a float `.weight` (F32, BF16, F16), else the
// quantized format, judged by the names present and their dtypes.
absl::StatusOr<std::optional<WeightFormat>> StoredFormat(const SafetensorsFile& file,
                                                         std::string_view name);
// A quantized weight in whichever naming it is stored.
absl::StatusOr<moe::QuantizedTensor> ReadQuantized(const SafetensorsFile& file,
                                                   std::string_view name);

// [rows, cols] of a quantized tensor of any format.
std::pair<int64_t, int64_t> QuantizedShape(const moe::QuantizedTensor& t);

// quant's quantizer for `format` (group_size for INT4 K2 only).
absl::StatusOr<moe::QuantizedTensor> QuantizeWeight(std::string_view name, ConstRowMatrixRef w,
                                                    WeightFormat format, int64_t group_size);

}  // namespace fp4moe::io

#endif  // FP4MOE_IO_CHECKPOINT_H_
