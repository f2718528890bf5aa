#ifndef FP4MOE_IO_MODEL_WEIGHTS_H_
#define FP4MOE_IO_MODEL_WEIGHTS_H_

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "io/model_folder.h"
#include "io/safetensors.h"
#include "moe/expert_weights.h"
#include "quant/format.h"
#include "quant/matrix.h"

namespace fp4moe::io {

// One weight `W` of a model folder as it is stored:
// - float: W.weight F32, BF16 or F16;
// - FP8, as DeepSeek-V3/R1 and Kimi-K2 release theirs: W.weight F8_E4M3 [N, K] and
//   W.weight_scale_inv F32 (or BF16) [ceil(N / bn), ceil(K / bk)], the value of element
//   (i, j) being weight(i, j) x weight_scale_inv(i / bn, j / bk) (bn x bk from config.json's
//   quantization_config.weight_block_size, 128 x 128 in those releases);
// - quantized in one of the formats of io/checkpoint.h, its tensors in one shard or split
//   between several (then read from a copy of them joined in memory, ModelFolder::Joined).
struct StoredWeight {
  std::string name;                    // W
  std::string storage;                 // "BF16", "F8_E4M3", "nvfp4", ..., for messages
  std::optional<WeightFormat> format;  // set for quantized weights
  const SafetensorsFile* file = nullptr;  // the shard of W.weight, or the quantized tensors' file
  const TensorView* weight = nullptr;     // float and FP8: W.weight
  const TensorView* scale_inv = nullptr;  // FP8: W.weight_scale_inv
};

// Finds W's tensors, opening the shards they are in. Tensors beside a quantized weight that
// its format does not have (compressed-tensors' weight_zero_point or weight_g_idx, for
// asymmetric or reordered INT4) are refused, naming them, rather than dropped.
absl::StatusOr<StoredWeight> FindWeight(ModelFolder& folder, const std::string& name);

// The values of a float or FP8 weight; an FP8 value that is NaN or a scale that is not finite
// is an error naming the tensor and the element. Reads only mapped memory, so several threads
// may read weights at once.
absl::StatusOr<RowMatrixXf> ReadFloatWeight(const StoredWeight& weight,
                                            std::array<int64_t, 2> fp8_block);

// The values of an F32, BF16 or F16 tensor (the caller checks the dtype:
// IsConvertibleToFloat).
std::vector<float> FloatValues(const TensorView& tensor);

// The weight as a layer of `format` runs it: read as stored where it is quantized (in that
// format; another is an error), else read and quantized to `format` (group_size for INT4 K2).
absl::StatusOr<moe::QuantizedTensor> LoadWeightAs(const StoredWeight& weight,
                                                  WeightFormat format, int64_t group_size,
                                                  std::array<int64_t, 2> fp8_block);

}  // namespace fp4moe::io

#endif  // FP4MOE_IO_MODEL_WEIGHTS_H_
