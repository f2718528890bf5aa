#include "moe/elementwise.h"

#include <cstdint>

#include "kernels/cpu_features.h"
#include "moe/elementwise_loops.h"

FP4MOE_DEFINE_ELEMENTWISE_FOR_ISA(Baseline)

namespace fp4moe::moe {

void SiluMul(const float* gate, const float* up, float* out, int64_t n) {
  const kernels::CpuFeatures& cpu = kernels::DetectedCpuFeatures();
  if (cpu.avx512) return SiluMulAvx512(gate, up, out, n);
  if (cpu.avx2) return SiluMulAvx2(gate, up, out, n);
  SiluMulBaseline(gate, up, out, n);
}

void ClampedSwiglu(const float* gate, const float* up, float limit, float* out, int64_t n) {
  const kernels::CpuFeatures& cpu = kernels::DetectedCpuFeatures();
  if (cpu.avx512) return ClampedSwigluAvx512(gate, up, limit, out, n);
  if (cpu.avx2) return ClampedSwigluAvx2(gate, up, limit, out, n);
  ClampedSwigluBaseline(gate, up, limit, out, n);
}

void WeightedRowSum(const float* const* rows, const float* weights, int64_t count, int64_t n,
                    bool accumulate, float* out) {
  const kernels::CpuFeatures& cpu = kernels::DetectedCpuFeatures();
  if (cpu.avx512) return WeightedRowSumAvx512(rows, weights, count, n, accumulate, out);
  if (cpu.avx2) return WeightedRowSumAvx2(rows, weights, count, n, accumulate, out);
  WeightedRowSumBaseline(rows, weights, count, n, accumulate, out);
}

void AddRowBias(const float* bias, int64_t count, int64_t cols, int64_t stride, float* rows) {
  for (int64_t r = 0; r < count; ++r) {
    float* row = rows + r * stride;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) row[c] += bias[c];
  }
}

}  // namespace fp4moe::moe
