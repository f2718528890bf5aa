#include "experiments/metrics.h"

namespace fp4moe {

ErrorMetrics CompareMatrices(const RowMatrixXd& got, const RowMatrixXd& want) {
  ErrorMetrics m;
  const double want_norm = want.norm();
  m.relative_frobenius = want_norm > 0 ? (got - want).norm() / want_norm : (got - want).norm();
  m.max_abs = (got - want).cwiseAbs().maxCoeff();
  const double norms = got.norm() * want_norm;
  m.cosine = norms > 0 ? got.cwiseProduct(want).sum() / norms : 1.0;
  return m;
}

}  // namespace fp4moe
