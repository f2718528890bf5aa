#include "kernels/roofline.h"

#include <algorithm>

#include "kernels/gemm.h"

namespace fp4moe::kernels {

double PeakFor(const PeakRates& peaks, GemmPath path, Isa isa) {
  const bool bf16 = TakesBf16Activations(path);
  switch (isa) {
    case Isa::kAmx:
      return bf16 ? peaks.amx_bf16 : peaks.amx_int8;
    case Isa::kAvx512:
      return bf16 ? peaks.avx512_bf16 : peaks.avx512_int8;
    case Isa::kAvx2:
      return bf16 ? peaks.avx2_f32 : peaks.avx2_int8;
    case Isa::kScalar:
      return peaks.scalar;
  }
  return peaks.scalar;
}

Roofline RooflineOf(double bytes, double bandwidth, double ops, double peak, double seconds) {
  Roofline r;
  r.memory_seconds = bytes / bandwidth;
  r.compute_seconds = ops / peak;
  r.fraction = std::max(r.memory_seconds, r.compute_seconds) / seconds;
  return r;
}

}  // namespace fp4moe::kernels
