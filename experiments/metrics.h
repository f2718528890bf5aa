#ifndef FP4MOE_EXPERIMENTS_METRICS_H_
#define FP4MOE_EXPERIMENTS_METRICS_H_

#include "quant/matrix.h"

namespace fp4moe {

// How far an approximation is from a reference, the way quantization papers report it.
struct ErrorMetrics {
  double relative_frobenius = 0;  // ||got - want||_F / ||want||_F
  double max_abs = 0;             // max |got - want|
  double cosine = 0;              // <got, want> / (||got|| ||want||), as flat vectors
};

ErrorMetrics CompareMatrices(const RowMatrixXd& got, const RowMatrixXd& want);

}  // namespace fp4moe

#endif  // FP4MOE_EXPERIMENTS_METRICS_H_
