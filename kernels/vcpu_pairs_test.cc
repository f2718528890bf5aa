#include "kernels/vcpu_pairs.h"

#include <sched.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fp4moe::kernels {
namespace {

using ::testing::HasSubstr;

// A dependent chain of float operations: its rate is the CPU time it gets.
double Chain(int64_t iterations) {
  double x = 1.0;
  for (int64_t i = 0; i < iterations; ++i) x = x * 0.999999 + 1e-6;
  return x;
}

constexpr PinnedLoop kChain = {Chain, 100000, 1.0};

TEST(VcpuPairsTest, AllowedCpusAreAscendingAndHoldTheOneRunningThis) {
  const std::vector<int> cpus = AllowedCpus();
  ASSERT_FALSE(cpus.empty());
  EXPECT_TRUE(std::is_sorted(cpus.begin(), cpus.end()));
  EXPECT_EQ(std::adjacent_find(cpus.begin(), cpus.end()), cpus.end());
  EXPECT_NE(std::find(cpus.begin(), cpus.end(), sched_getcpu()), cpus.end());
}

TEST(VcpuPairsTest, TwoThreadsOnOneCpuShareItsTime) {
  const int cpu = AllowedCpus().front();
  const absl::StatusOr<double> alone = PinnedRate(kChain, cpu, 0.1);
  ASSERT_TRUE(alone.ok()) << alone.status();
  ASSERT_GT(*alone, 0);
  const absl::StatusOr<PairRates> pair = PinnedPairRates(kChain, cpu, kChain, cpu, 0.1);
  ASSERT_TRUE(pair.ok()) << pair.status();
  // Time-shared, each gets about half of what it got alone (the bound leaves room for a host
  // that ran the lone thread slower).
  EXPECT_GT(pair->a, 0);
  EXPECT_GT(pair->b, 0);
  EXPECT_LT(pair->a, 0.8 * *alone);
  EXPECT_LT(pair->b, 0.8 * *alone);
}

TEST(VcpuPairsTest, CpusThatCannotBePinnedAreNamed) {
  absl::StatusOr<double> rate = PinnedRate(kChain, -1, 0.01);
  EXPECT_EQ(rate.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(rate.status().message(), HasSubstr("CPU -1: out of range"));
  const std::vector<int> cpus = AllowedCpus();
  const int not_allowed = CPU_SETSIZE - 1;
  if (std::find(cpus.begin(), cpus.end(), not_allowed) != cpus.end()) GTEST_SKIP();
  const absl::StatusOr<PairRates> pair =
      PinnedPairRates(kChain, cpus.front(), kChain, not_allowed, 0.01);
  EXPECT_EQ(pair.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(pair.status().message(),
              HasSubstr(absl::StrFormat("CPU %d: cannot pin a thread to it", not_allowed)));
}

}  // namespace
}  // namespace fp4moe::kernels
