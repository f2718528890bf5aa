#include "quant/test_matchers.h"

#include <cmath>
#include <limits>

namespace fp4moe {

double DistanceToGrid(double x, absl::Span<const float> magnitudes, double scale) {
  double best = std::numeric_limits<double>::infinity();
  for (float m : magnitudes) {
    best = std::min({best, std::fabs(x - m * scale), std::fabs(x + m * scale)});
  }
  return best;
}

}  // namespace fp4moe
