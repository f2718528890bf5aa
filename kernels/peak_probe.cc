#include "kernels/peak_probe.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_format.h"
#include "kernels/cpu_features.h"
#include "kernels/probe_chains.h"
#include "kernels/thread_rates.h"

namespace fp4moe::kernels {
namespace {

// Operations a step of the probe loops: an AMX block (4 products of 16 x 16 outputs over 32
// BF16 or 64 int8 pairs) and a step of the FMA chains.
constexpr double kBf16BlockOps = 4.0 * 2 * 16 * 16 * 32;
constexpr double kInt8BlockOps = 4.0 * 2 * 16 * 16 * 64;
constexpr double kFmaStepOps = 2.0 * kFmaLanes * kFmaChains;

// Operations per second of `loop` on all threads at once, `step_ops` a step: the best pass
// after a warm-up (on the Xeon, tile products right after the units were idle ran at a third
// of their rate: a probe of five 4 ms passes once gave 5.5 TFLOPS BF16 where the sequence
// benchmark gives 16; AVX-512 code changes the clock as it starts).
double PeakOf(ProbeLoop loop, int64_t iterations, double step_ops, int warm_up_passes,
              int passes) {
  RatesOnAllThreads(loop, iterations, step_ops, warm_up_passes);
  return RatesOnAllThreads(loop, iterations, step_ops, passes).total;
}

}  // namespace

PeakRates MeasurePeakRates() {
  PeakRates peaks;
  const CpuFeatures& cpu = DetectedCpuFeatures();
  if (cpu.amx) {
    // About 4 ms a pass on the Xeon.
    constexpr int64_t kBlocks = 65536;
    peaks.amx_bf16 = PeakOf(Bf16TileBlocksAmx, kBlocks, kBf16BlockOps, 25, 10);
    peaks.amx_int8 = PeakOf(Int8TileBlocksAmx, kBlocks, kInt8BlockOps, 25, 10);
  }
  // About 1 to 3 ms a pass on one thread.
  if (cpu.avx512) {
    constexpr int64_t kSteps = 1 << 18;
    peaks.avx512_int8 = PeakOf(Int8DotChainsAvx512, kSteps, 2.0 * 64 * kDotChainsAvx512, 1, 4);
    peaks.avx512_bf16 = PeakOf(Bf16DotChainsAvx512, kSteps, 2.0 * 32 * kDotChainsAvx512, 1, 4);
  }
  if (cpu.avx2) {
    peaks.avx2_int8 = PeakOf(Int8DotChainsAvx2, 1 << 18, 2.0 * 64 * kInt8DotChainsAvx2, 1, 4);
    peaks.avx2_f32 = PeakOf(FmaChainsAvx2, 1 << 19, kFmaStepOps, 1, 4);
  }
  return peaks;
}

std::string WindowRatesLine() {
  const CpuFeatures& cpu = DetectedCpuFeatures();
  if (!cpu.avx2) return "window probe: no AVX2 here";
  std::string line = "window probe (every thread for 0.2 s together):";
  const auto append = [&](const char* name, const WindowRates& rates, double unit,
                          const char* unit_name) {
    absl::StrAppendFormat(&line, " %s %.2f %s on %d threads (least %.2f, most %.2f of the mean);",
                          name, rates.total / unit, unit_name, rates.threads, rates.least_share,
                          rates.most_share);
  };
  if (cpu.amx) {
    RatesInOneWindow(Bf16TileBlocksAmx, 4096, kBf16BlockOps, 0.05);  // warm-up
    append("AMX BF16", RatesInOneWindow(Bf16TileBlocksAmx, 4096, kBf16BlockOps, 0.2), 1e12,
           "TFLOPS");
  }
  append("AVX2 FMA", RatesInOneWindow(FmaChainsAvx2, 1 << 14, kFmaStepOps, 0.2), 1e9, "GFLOPS");
  line.pop_back();  // the last ';'
  return line;
}

}  // namespace fp4moe::kernels
