#include "quant/reference_gemm.h"

namespace fp4moe {

RowMatrixXd ReferenceGemm(ConstRowMatrixRef a, ConstRowMatrixRef b) {
  return a.cast<double>() * b.cast<double>().transpose();
}

RowMatrixXd AbsGemm(ConstRowMatrixRef a, ConstRowMatrixRef b) {
  return a.cast<double>().cwiseAbs() * b.cast<double>().cwiseAbs().transpose();
}

}  // namespace fp4moe
