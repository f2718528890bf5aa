#include "kernels/peak_probe.h"

#include <string>

#include "gtest/gtest.h"
#include "kernels/cpu_features.h"
#include "kernels/vector_probe.h"

namespace fp4moe::kernels {
namespace {

// A machine's rate for a product it has: above a giga-operation per second and below what a
// thousand cores would give (1 TOPS each).
void ExpectMeasuredRate(double rate) {
  EXPECT_GT(rate, 1e9);
  EXPECT_LT(rate, 1e15);
}

TEST(PeakProbeTest, MeasuresTheRatesOfTheIsasItHas) {
  const CpuFeatures& cpu = DetectedCpuFeatures();
  if (!cpu.avx2) GTEST_SKIP() << "no AVX2 here";
  const PeakRates peaks = MeasurePeakRates();
  ExpectMeasuredRate(peaks.avx2_int8);
  ExpectMeasuredRate(peaks.avx2_f32);
  // The same loop as the vector probe's, whose unit is an 8-lane FMA (16 operations), on all
  // threads: the two agree within what a shared machine's passes differ by.
  const double vector_probe_flops = 16 * MeasureVectorScaling().all_threads;
  EXPECT_GT(peaks.avx2_f32, vector_probe_flops / 2);
  EXPECT_LT(peaks.avx2_f32, vector_probe_flops * 2);
  if (cpu.avx512) {
    ExpectMeasuredRate(peaks.avx512_int8);
    ExpectMeasuredRate(peaks.avx512_bf16);
  }
  if (cpu.amx) {
    ExpectMeasuredRate(peaks.amx_int8);
    ExpectMeasuredRate(peaks.amx_bf16);
  }
}

TEST(PeakProbeTest, WindowLineGivesEveryRateItMeasured) {
  const CpuFeatures& cpu = DetectedCpuFeatures();
  if (!cpu.avx2) GTEST_SKIP() << "no AVX2 here";
  const std::string line = WindowRatesLine();
  EXPECT_NE(line.find("AVX2 FMA"), std::string::npos) << line;
  EXPECT_EQ(line.find("AMX BF16") != std::string::npos, cpu.amx) << line;
  EXPECT_EQ(line.back(), ')') << line;
}

}  // namespace
}  // namespace fp4moe::kernels
