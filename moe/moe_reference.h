#ifndef FP4MOE_MOE_MOE_REFERENCE_H_
#define FP4MOE_MOE_MOE_REFERENCE_H_

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"
#include "kernels/microkernel.h"
#include "moe/expert_weights.h"
#include "moe/moe_config.h"
#include "quant/format.h"
#include "quant/matrix.h"

namespace fp4moe::moe {

// How a GEMM path perturbs its operands, for the error bound below.
struct PathRounding {
  enum class Activations { kExact, kInt8PerGroup, kBf16, kNvfp4 };
  Activations activations = Activations::kExact;
  int64_t group = 0;  // kInt8PerGroup: elements sharing one scale
  // Largest relative change the kernel makes to a dequantized weight (W4A16 rounds
  // weight * float32 or BF16 scale to BF16; exact for E4M3 and E8M0 scales).
  double weight_relative_error = 0.0;
};

// The rounding of `path` on `format` weights whose kernel groups activations by `group`.
PathRounding RoundingOf(kernels::GemmPath path, WeightFormat format, int64_t group);

struct MoeReferenceResult {
  RowMatrixXd output;       // [qlen, hidden]: the MoE in double on the given weights
  RowMatrixXd error_bound;  // [qlen, hidden]: bound on |float32 operator - output|
};

// The rounding of an expert's products, by the number of distinct tokens routed to it (a
// layer may run experts that few tokens chose on another path: MoeLayer::KernelFor).
using RoundingOfRows = absl::FunctionRef<PathRounding(int64_t rows)>;

// What the experts compute besides their products: the layer's activation, and their biases
// (empty: none; else one ExpertBiases per expert).
struct ExpertExtras {
  ExpertActivation activation = ExpertActivation::kSiluMul;
  double swiglu_limit = 7.0;  // kClampedSwiglu only
  absl::Span<const ExpertBiases> biases;
};

// output[t] = sum_j w[t, j] * Wd_e (silu(Wg_e x_t) * (Wu_e x_t)), e = expert_ids[t, j],
// computed by Eigen in double on `experts` (gate/up [I, H], down [H, I]); with `extras`, the
// biases added to each product and the activation the extras name.
//
// error_bound is a first-order bound, per element, for an operator that computes the same
// in float32 with each expert's activations rounded as `rounding_of` says for it (derivation
// in moe_reference.cc).
MoeReferenceResult ReferenceMoe(absl::Span<const ExpertFloatWeights> experts, int64_t qlen,
                                int k, const int64_t* expert_ids, const float* routing_weights,
                                ConstRowMatrixRef input, RoundingOfRows rounding_of,
                                int tp_parts = 1, const ExpertExtras& extras = {});
// The same with every expert's activations rounded alike.
MoeReferenceResult ReferenceMoe(absl::Span<const ExpertFloatWeights> experts, int64_t qlen,
                                int k, const int64_t* expert_ids, const float* routing_weights,
                                ConstRowMatrixRef input, const PathRounding& rounding,
                                int tp_parts = 1, const ExpertExtras& extras = {});

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_MOE_REFERENCE_H_
