#ifndef FP4MOE_QUANT_MATRIX_H_
#define FP4MOE_QUANT_MATRIX_H_

#include <Eigen/Core>

namespace fp4moe {

// Weights are row-major [N, K] (one output channel per row), activations row-major [M, K],
// as the checkpoints store them and as the kernels stream them.
using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// Accepts a RowMatrixXf or an Eigen::Map over caller memory, without a copy.
using ConstRowMatrixRef = Eigen::Ref<const RowMatrixXf>;

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_MATRIX_H_
