#include "kernels/roofline_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(double, peak_amx_int8, fp4moe::kernels::PeakRates().amx_int8, "AMX INT8 peak, ops/s");
ABSL_FLAG(double, peak_amx_bf16, fp4moe::kernels::PeakRates().amx_bf16,
          "AMX BF16 peak, flops/s");
ABSL_FLAG(double, peak_avx512_int8, fp4moe::kernels::PeakRates().avx512_int8,
          "AVX-512 VNNI peak, ops/s");
ABSL_FLAG(double, peak_avx512_bf16, fp4moe::kernels::PeakRates().avx512_bf16,
          "AVX-512 BF16 peak, flops/s");

namespace fp4moe::kernels {

PeakRates PeakRatesFromFlags() {
  PeakRates peaks;
  peaks.amx_int8 = absl::GetFlag(FLAGS_peak_amx_int8);
  peaks.amx_bf16 = absl::GetFlag(FLAGS_peak_amx_bf16);
  peaks.avx512_int8 = absl::GetFlag(FLAGS_peak_avx512_int8);
  peaks.avx512_bf16 = absl::GetFlag(FLAGS_peak_avx512_bf16);
  return peaks;
}

}  // namespace fp4moe::kernels
