#include "experiments/progress_eta.h"

#include "gtest/gtest.h"

namespace fp4moe::experiments {
namespace {

// The quick default's shape: cheap GEMM cases, then MoE cases ten times dearer.
TEST(EtaEstimatorTest, EachKindCostsWhatItsFinishedCasesCost) {
  std::vector<std::string> kinds(3, "gemm");
  kinds.insert(kinds.end(), 3, "moe");
  EtaEstimator eta(kinds);
  EXPECT_EQ(eta.UnknownCases(), 6);
  EXPECT_EQ(eta.Text(), "ETA over 0s (+6 cases of kinds not run yet)");
  eta.Finished(1.0);
  eta.Finished(3.0);  // gemm: 2 s a case on average
  EXPECT_DOUBLE_EQ(eta.KnownSeconds(), 2.0);
  EXPECT_EQ(eta.UnknownCases(), 3);
  EXPECT_EQ(eta.Text(), "ETA over 2s (+3 cases of kinds not run yet)");
  eta.Finished(2.0);
  eta.Finished(20.0);
  // Two MoE cases left at the MoE cost, not at the average of all finished cases (6.5 s).
  EXPECT_DOUBLE_EQ(eta.KnownSeconds(), 40.0);
  EXPECT_EQ(eta.UnknownCases(), 0);
  EXPECT_EQ(eta.Text(), "ETA 40s");
  eta.Finished(20.0);
  eta.Finished(20.0);
  EXPECT_DOUBLE_EQ(eta.KnownSeconds(), 0.0);
  eta.Finished(5.0);  // past the last case: nothing changes
  EXPECT_EQ(eta.Text(), "ETA 0s");
}

TEST(EtaEstimatorTest, KindsInterleave) {
  EtaEstimator eta({"a", "b", "a", "b", "a"});
  eta.Finished(10.0);
  EXPECT_DOUBLE_EQ(eta.KnownSeconds(), 20.0);  // two more a
  EXPECT_EQ(eta.UnknownCases(), 2);
  eta.Finished(1.0);
  EXPECT_DOUBLE_EQ(eta.KnownSeconds(), 21.0);
}

TEST(EtaEstimatorTest, DurationsRead) {
  EXPECT_EQ(Duration(0.4), "0s");
  EXPECT_EQ(Duration(59.6), "1m00s");
  EXPECT_EQ(Duration(125), "2m05s");
}

}  // namespace
}  // namespace fp4moe::experiments
