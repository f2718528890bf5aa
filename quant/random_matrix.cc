#include "quant/random_matrix.h"

#include <cmath>
#include <random>

namespace fp4moe {

RowMatrixXf RandomMatrix(int64_t rows, int64_t cols, uint64_t seed, Distribution distribution,
                         float stddev) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, stddev);
  // Student-t(3) has variance 3; divide by sqrt(3) to keep the requested spread.
  std::student_t_distribution<float> student(3.0f);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  RowMatrixXf m(rows, cols);
  for (int64_t i = 0; i < m.size(); ++i) {
    float v = 0.0f;
    switch (distribution) {
      case Distribution::kGaussian:
        v = normal(rng);
        break;
      case Distribution::kHeavyTailed:
        v = student(rng) * stddev / std::sqrt(3.0f);
        break;
      case Distribution::kOutliers:
        v = normal(rng);
        if (uniform(rng) < 1e-3f) v *= 50.0f;
        break;
    }
    m.data()[i] = v;
  }
  return m;
}

}  // namespace fp4moe
