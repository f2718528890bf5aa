#include "experiments/row_facts.h"

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fp4moe::experiments {
namespace {

using ::testing::HasSubstr;

ResultRow Timed(double q1, double median, double q3) {
  ResultRow r;
  r.format = "nvfp4";
  r.time_q1_us = q1;
  r.time_median_us = median;
  r.time_q3_us = q3;
  r.tokens_per_s = 1000;
  return r;
}

TEST(RowFactsTest, FormatLabelNamesInt4GroupSizes) {
  ResultRow r;
  r.format = "int4_k2";
  r.group_size = 128;
  EXPECT_EQ(FormatLabel(r), "int4_k2(G=128)");
  r.format = "mxfp4";
  r.group_size = 32;
  EXPECT_EQ(FormatLabel(r), "mxfp4");
}

TEST(RowFactsTest, NoiseIsTheInterquartileRangeOverTheMedian) {
  EXPECT_DOUBLE_EQ(TimingNoise(Timed(95, 100, 105)), 0.10);
  EXPECT_FALSE(NoisyTiming(Timed(95, 100, 105)));
  EXPECT_TRUE(NoisyTiming(Timed(95, 100, 106)));
  EXPECT_TRUE(std::isnan(TimingNoise(ResultRow{})));  // not timed
  EXPECT_FALSE(NoisyTiming(ResultRow{}));
}

TEST(RowFactsTest, RegimeComparesTheWorkingSetWithL3) {
  ResultRow r;
  EXPECT_EQ(RegimeOf(r), Regime::kUnknown);
  r.l3_bytes = 8 << 20;
  r.working_set_bytes = 8 << 20;
  EXPECT_EQ(RegimeOf(r), Regime::kCache);
  r.working_set_bytes = (8 << 20) + 1;
  EXPECT_EQ(RegimeOf(r), Regime::kDram);
  r.l3_bytes = 0;  // a machine that does not tell
  EXPECT_EQ(RegimeOf(r), Regime::kUnknown);
}

TEST(RowFactsTest, TitlesNameTheMachineAndTheRegime) {
  ResultRow small = Timed(1, 1, 1), big = Timed(1, 1, 1), eigen = Timed(1, 1, 1);
  for (ResultRow* r : {&small, &big, &eigen}) {
    r->cpu_model = "AMD EPYC";
    r->l3_bytes = 8 << 20;
  }
  small.isa = "avx2";
  small.working_set_bytes = 2 << 20;
  big.isa = "amx+avx512";
  big.working_set_bytes = int64_t{1} << 30;
  eigen.working_set_bytes = 2 << 20;  // Eigen's own SIMD: no ISA named
  EXPECT_EQ(MachineLabel({&small}), "AMD EPYC, avx2 kernels");
  EXPECT_EQ(MachineLabel({&small, &big, &eigen}), "AMD EPYC, avx2+amx+avx512 kernels");
  EXPECT_EQ(MachineLabel({&eigen}), "AMD EPYC");
  EXPECT_EQ(RegimeLabel({&small}), "weights in cache (working set 2.0 MiB, L3 8.0 MiB)");
  EXPECT_EQ(RegimeLabel({&big}), "weights from DRAM (working set 1.0 GiB, L3 8.0 MiB)");
  EXPECT_EQ(RegimeLabel({&small, &big}),
            "weights in cache and from DRAM (working set 2.0 MiB to 1.0 GiB, L3 8.0 MiB)");
  ResultRow accuracy_only = small;
  accuracy_only.tokens_per_s = kNotMeasured;
  EXPECT_EQ(RegimeLabel({&accuracy_only}), "");
}

}  // namespace
}  // namespace fp4moe::experiments
