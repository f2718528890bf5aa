// The operator with gpt-oss's extras, per-expert biases on the three products and the clamped
// SwiGLU, against the reference on both the prefill and decode paths.

#include <memory>
#include <vector>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "moe/moe.h"
#include "moe/moe_reference.h"
#include "moe/moe_test_helpers.h"
#include "quant/random_matrix.h"
#include "quant/test_matchers.h"

namespace fp4moe::moe {
namespace {

using kernels::GemmPath;
using ::testing::HasSubstr;

std::vector<float> RandomVector(int64_t n, uint64_t seed, float scale) {
  const RowMatrixXf m = RandomMatrix(1, n, seed, Distribution::kGaussian, scale);
  return std::vector<float>(m.data(), m.data() + n);
}

// Biases of order 1, so that with a small limit many gate and up values are clamped.
std::vector<ExpertBiases> RandomBiases(uint64_t seed) {
  std::vector<ExpertBiases> biases;
  for (int64_t e = 0; e < kExperts; ++e) {
    biases.push_back({RandomVector(kInter, seed + 3 * e, 1.0f),
                      RandomVector(kInter, seed + 3 * e + 1, 1.0f),
                      RandomVector(kHidden, seed + 3 * e + 2, 1.0f)});
  }
  return biases;
}

struct ExtrasCase {
  ExpertActivation activation;
  bool biases;
  std::optional<GemmPath> path;
  int tp_parts;
};

class MoeExtrasTest : public ::testing::TestWithParam<ExtrasCase> {};

TEST_P(MoeExtrasTest, MatchesReferenceOnPrefillAndDecode) {
  const ExtrasCase c = GetParam();
  MoeConfig config = SmallConfig(WeightFormat::kMxfp4, c.path, c.tp_parts);
  config.activation = c.activation;
  config.swiglu_limit = 1.5f;  // well inside the values' range: both clamps are exercised
  const std::vector<ExpertFloatWeights> floats = RandomExperts(41);
  const std::vector<ExpertBiases> biases = c.biases ? RandomBiases(42) : std::vector<ExpertBiases>{};
  absl::StatusOr<std::unique_ptr<MoeLayer>> layer = MoeLayer::Create(config, floats, biases);
  ASSERT_TRUE(layer.ok()) << layer.status();
  const ExpertExtras extras{c.activation, config.swiglu_limit, biases};
  for (int64_t qlen : {1, 3, 7, 64, 300}) {
    const Routing r = RandomRouting(qlen, 500 + qlen);
    const RowMatrixXf x = RandomMatrix(qlen, kHidden, 600 + qlen);
    const RowMatrixXf out = RunLayer(**layer, r, x);
    ExpectMatchesReference(
        **layer, floats, r, x, out,
        absl::StrFormat("%s%s %d parts qlen %d",
                        c.activation == ExpertActivation::kClampedSwiglu ? "swiglu" : "silu",
                        c.biases ? " biases" : "", c.tp_parts, qlen),
        extras);
  }
}

INSTANTIATE_TEST_SUITE_P(
    ActivationsAndBiases, MoeExtrasTest,
    ::testing::Values(
        ExtrasCase{ExpertActivation::kClampedSwiglu, true, std::nullopt, 1},
        ExtrasCase{ExpertActivation::kClampedSwiglu, true, std::nullopt, 2},
        ExtrasCase{ExpertActivation::kClampedSwiglu, true, GemmPath::kFp4W4A16, 1},
        ExtrasCase{ExpertActivation::kClampedSwiglu, false, GemmPath::kFp4W4A8, 1},
        ExtrasCase{ExpertActivation::kSiluMul, true, GemmPath::kFp4W4A8, 2}));

TEST(MoeExtrasErrorTest, BiasesOfTheWrongCountOrSizeNameTheExpert) {
  const MoeConfig config = SmallConfig(WeightFormat::kMxfp4, GemmPath::kFp4W4A8);
  const std::vector<ExpertFloatWeights> floats = RandomExperts(43);
  std::vector<ExpertBiases> biases = RandomBiases(44);
  biases.pop_back();
  EXPECT_THAT(MoeLayer::Create(config, floats, biases).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("biases for 7 experts")));
  biases = RandomBiases(44);
  biases[5].up.pop_back();
  EXPECT_THAT(MoeLayer::Create(config, floats, biases).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expert 5 up bias: 127 values, expected 128")));
  biases = RandomBiases(44);
  biases[2].down[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(MoeLayer::Create(config, floats, biases).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expert 2 down bias[3] = nan is not finite")));
}

}  // namespace
}  // namespace fp4moe::moe
