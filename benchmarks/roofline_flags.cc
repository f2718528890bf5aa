#include "benchmarks/roofline_flags.h"

#include <string_view>
#include <tuple>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "kernels/cpu_features.h"
#include "kernels/peak_probe.h"

ABSL_FLAG(double, peak_amx_int8, 0,
          "AMX INT8 peak, ops/s (0: measured at start where the CPU has AMX)");
ABSL_FLAG(double, peak_amx_bf16, 0,
          "AMX BF16 peak, flops/s (0: measured at start where the CPU has AMX)");
ABSL_FLAG(double, peak_avx512_int8, fp4moe::kernels::PeakRates().avx512_int8,
          "AVX-512 VNNI peak, ops/s");
ABSL_FLAG(double, peak_avx512_bf16, fp4moe::kernels::PeakRates().avx512_bf16,
          "AVX-512 BF16 peak, flops/s");

namespace fp4moe::kernels {

absl::Status CheckPeakRateFlags() {
  // A rate per second: a CPU's peak is far above 1e9, and a value below it is most likely in
  // giga or tera units; 1e18 is a thousand times any machine's.
  constexpr double kMin = 1e9, kMax = 1e18;
  for (const auto& [flag, value, measurable] :
       {std::tuple<std::string_view, double, bool>("peak_amx_int8",
                                                   absl::GetFlag(FLAGS_peak_amx_int8), true),
        std::tuple<std::string_view, double, bool>("peak_amx_bf16",
                                                   absl::GetFlag(FLAGS_peak_amx_bf16), true),
        std::tuple<std::string_view, double, bool>("peak_avx512_int8",
                                                   absl::GetFlag(FLAGS_peak_avx512_int8), false),
        std::tuple<std::string_view, double, bool>("peak_avx512_bf16",
                                                   absl::GetFlag(FLAGS_peak_avx512_bf16), false)}) {
    if ((value >= kMin && value <= kMax) || (measurable && value == 0)) continue;
    return absl::InvalidArgumentError(absl::StrFormat(
        "--%s=%g is out of range: must be %sin [%g, %g] operations per second", flag, value,
        measurable ? "0 (measure it) or " : "", kMin, kMax));
  }
  return absl::OkStatus();
}

PeakRates PeakRatesFromFlags() {
  PeakRates peaks = MeasurePeakRates();
  if (absl::GetFlag(FLAGS_peak_amx_int8) > 0) peaks.amx_int8 = absl::GetFlag(FLAGS_peak_amx_int8);
  if (absl::GetFlag(FLAGS_peak_amx_bf16) > 0) peaks.amx_bf16 = absl::GetFlag(FLAGS_peak_amx_bf16);
  peaks.avx512_int8 = absl::GetFlag(FLAGS_peak_avx512_int8);
  peaks.avx512_bf16 = absl::GetFlag(FLAGS_peak_avx512_bf16);
  return peaks;
}

std::string PeakRatesLine(const PeakRates& peaks) {
  const bool measured = DetectedCpuFeatures().amx;
  return absl::StrFormat(
      "roofline peaks: AMX BF16 %.1f TFLOPS, AMX INT8 %.1f TOPS (%s%s), AVX-512 BF16 %.1f, "
      "VNNI %.1f",
      peaks.amx_bf16 / 1e12, peaks.amx_int8 / 1e12,
      measured ? "tile-product probe now" : "no AMX here: PeakRates' figures",
      absl::GetFlag(FLAGS_peak_amx_bf16) > 0 || absl::GetFlag(FLAGS_peak_amx_int8) > 0
          ? ", flags override"
          : "",
      peaks.avx512_bf16 / 1e12, peaks.avx512_int8 / 1e12);
}

}  // namespace fp4moe::kernels
