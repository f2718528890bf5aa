#include "benchmarks/roofline_flags.h"

#include <string_view>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "kernels/cpu_features.h"
#include "kernels/peak_probe.h"

ABSL_FLAG(double, peak_amx_int8, 0, "AMX INT8 peak, ops/s (0: measured at start)");
ABSL_FLAG(double, peak_amx_bf16, 0, "AMX BF16 peak, flops/s (0: measured at start)");
ABSL_FLAG(double, peak_avx512_int8, 0, "AVX-512 VNNI peak, ops/s (0: measured at start)");
ABSL_FLAG(double, peak_avx512_bf16, 0, "AVX-512 BF16 peak, flops/s (0: measured at start)");
ABSL_FLAG(double, peak_avx2_int8, 0, "AVX2 int8 peak, ops/s (0: measured at start)");
ABSL_FLAG(double, peak_avx2_f32, 0, "AVX2 FP32 FMA peak, flops/s (0: measured at start)");

namespace fp4moe::kernels {
namespace {

// Each flag with the rate of PeakRates it sets.
struct PeakFlag {
  std::string_view name;
  const absl::Flag<double>& flag;
  double PeakRates::*rate;
};

constexpr PeakFlag kPeakFlags[] = {
    {"peak_amx_int8", FLAGS_peak_amx_int8, &PeakRates::amx_int8},
    {"peak_amx_bf16", FLAGS_peak_amx_bf16, &PeakRates::amx_bf16},
    {"peak_avx512_int8", FLAGS_peak_avx512_int8, &PeakRates::avx512_int8},
    {"peak_avx512_bf16", FLAGS_peak_avx512_bf16, &PeakRates::avx512_bf16},
    {"peak_avx2_int8", FLAGS_peak_avx2_int8, &PeakRates::avx2_int8},
    {"peak_avx2_f32", FLAGS_peak_avx2_f32, &PeakRates::avx2_f32},
};

bool AnyPeakFlagSet() {
  for (const PeakFlag& f : kPeakFlags) {
    if (absl::GetFlag(f.flag) > 0) return true;
  }
  return false;
}

}  // namespace

absl::Status CheckPeakRateFlags() {
  // A rate per second: a CPU's peak is far above 1e9, and a value below it is most likely in
  // giga or tera units; 1e18 is a thousand times any machine's.
  constexpr double kMin = 1e9, kMax = 1e18;
  for (const PeakFlag& f : kPeakFlags) {
    const double value = absl::GetFlag(f.flag);
    if (value == 0 || (value >= kMin && value <= kMax)) continue;
    return absl::InvalidArgumentError(absl::StrFormat(
        "--%s=%g is out of range: must be 0 (measure it) or in [%g, %g] operations per second",
        f.name, value, kMin, kMax));
  }
  return absl::OkStatus();
}

PeakRates PeakRatesFromFlags() {
  PeakRates peaks = MeasurePeakRates();
  for (const PeakFlag& f : kPeakFlags) {
    if (const double value = absl::GetFlag(f.flag); value > 0) peaks.*f.rate = value;
  }
  return peaks;
}

std::string PeakRatesLine(const PeakRates& peaks) {
  const CpuFeatures& cpu = DetectedCpuFeatures();
  // A rate this machine has no instructions for is PeakRates' figure, used only by emulated
  // kernels.
  const auto rate = [](bool here, double value, const char* unit) {
    return here ? absl::StrFormat("%.2f %s", value / 1e12, unit) : std::string("none here");
  };
  return absl::StrFormat(
      "roofline peaks (%s): AMX BF16 %s, AMX INT8 %s, AVX-512 BF16 %s, VNNI %s, AVX2 FP32 %s, "
      "AVX2 int8 %s",
      AnyPeakFlagSet() ? "probes now, --peak_* flags override" : "probes now",
      rate(cpu.amx, peaks.amx_bf16, "TFLOPS"), rate(cpu.amx, peaks.amx_int8, "TOPS"),
      rate(cpu.avx512, peaks.avx512_bf16, "TFLOPS"), rate(cpu.avx512, peaks.avx512_int8, "TOPS"),
      rate(cpu.avx2, peaks.avx2_f32, "TFLOPS"), rate(cpu.avx2, peaks.avx2_int8, "TOPS"));
}

}  // namespace fp4moe::kernels
