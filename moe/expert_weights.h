#ifndef FP4MOE_MOE_EXPERT_WEIGHTS_H_
#define FP4MOE_MOE_EXPERT_WEIGHTS_H_

#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/buffers.h"
#include "moe/moe_config.h"
#include "quant/fp4_float_scale.h"
#include "quant/int4_k2.h"
#include "quant/matrix.h"
#include "quant/mxfp4.h"
#include "quant/nvfp4.h"

namespace fp4moe::moe {

// One expert's float weights: gate and up [intermediate, hidden], down [hidden, intermediate].
struct ExpertFloatWeights {
  RowMatrixXf gate, up, down;
};

// A pre-quantized weight tensor as a checkpoint reader produces it.
using QuantizedTensor = std::variant<Nvfp4Tensor, Fp4FloatScaleTensor, Mxfp4Tensor, Int4K2Tensor>;

// One expert's pre-quantized weights, shaped as ExpertFloatWeights.
struct ExpertQuantizedWeights {
  QuantizedTensor gate, up, down;
};

// One expert's biases on its projections (gpt-oss): gate and up [intermediate], down [hidden].
struct ExpertBiases {
  std::vector<float> gate, up, down;
};

// One tensor-parallel part of one expert, packed for the kernels: gate and up
// [intermediate / P, hidden], down [hidden, intermediate / P].
struct ExpertPart {
  kernels::BufferB gate, up, down;
  // The part's rows of the gate and up biases, and the down bias in part 0 only (the parts'
  // down outputs are summed); all empty in a layer without biases.
  std::vector<float> gate_bias, up_bias, down_bias;
};

// Quantizes float weights to config.weight_format (whole tensors, so that a per-tensor scale
// does not depend on tp_parts). Wrong shapes and quantizer errors name the expert and the
// projection.
absl::StatusOr<ExpertQuantizedWeights> QuantizeExpert(const MoeConfig& config, int64_t expert,
                                                      const ExpertFloatWeights& weights);

// Checks sizes (intermediate_size for gate and up, hidden_size for down) and that every value
// is finite, naming the expert and projection.
absl::Status CheckExpertBiases(const MoeConfig& config, int64_t expert,
                               const ExpertBiases& biases);

// Checks the tensors' format and shapes against `config` (naming the expert and projection)
// and packs part `part` of config.tp_parts, with its share of `biases` (null: none; checked
// by CheckExpertBiases).
absl::StatusOr<ExpertPart> PackExpertPart(const MoeConfig& config, int64_t expert,
                                          const ExpertQuantizedWeights& weights, int part,
                                          const ExpertBiases* biases);

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_EXPERT_WEIGHTS_H_
