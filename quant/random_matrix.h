#ifndef FP4MOE_QUANT_RANDOM_MATRIX_H_
#define FP4MOE_QUANT_RANDOM_MATRIX_H_

#include <cstdint>

#include "quant/matrix.h"

namespace fp4moe {

// Weight-like matrices, reproducible from a seed, for tests, benchmarks and experiments.
enum class Distribution {
  kGaussian,     // N(0, stddev^2)
  kHeavyTailed,  // Student-t with 3 degrees of freedom, scaled to stddev
  kOutliers,     // Gaussian with one element in 1000 multiplied by 50
};

RowMatrixXf RandomMatrix(int64_t rows, int64_t cols, uint64_t seed,
                         Distribution distribution = Distribution::kGaussian,
                         float stddev = 1.0f);

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_RANDOM_MATRIX_H_
