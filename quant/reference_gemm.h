#ifndef FP4MOE_QUANT_REFERENCE_GEMM_H_
#define FP4MOE_QUANT_REFERENCE_GEMM_H_

#include "quant/matrix.h"

namespace fp4moe {

// The references every kernel and the MoE operator are tested against: C = A * B^T with A
// [M, K] activations and B [N, K] weights (both already dequantized), computed by Eigen in
// double so that the reference's own rounding is negligible next to float32 kernels.
RowMatrixXd ReferenceGemm(ConstRowMatrixRef a, ConstRowMatrixRef b);
// |A| * |B|^T: the scale of the rounding error a float32 sum of the same products can make
// (a sum of K products accumulated in float32 is off by at most about K * 2^-24 times this).
RowMatrixXd AbsGemm(ConstRowMatrixRef a, ConstRowMatrixRef b);

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_REFERENCE_GEMM_H_
