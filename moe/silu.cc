#include "moe/silu.h"

#include <cmath>

namespace fp4moe::moe {

void SiluMul(const float* gate, const float* up, float* out, int64_t n) {
  // One independent element per iteration, no branches: vectorisable (and it vectorises
  // fully where the compiler has a SIMD expf, e.g. glibc's libmvec under -ffast-math).
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

}  // namespace fp4moe::moe
