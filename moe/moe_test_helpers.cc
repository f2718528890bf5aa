#include "moe/moe_test_helpers.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>

#include "gtest/gtest.h"
#include "quant/random_matrix.h"

namespace fp4moe::moe {

MoeConfig SmallConfig(WeightFormat format, std::optional<kernels::GemmPath> path, int tp_parts) {
  MoeConfig c;
  c.expert_num = kExperts;
  c.num_experts_per_tok = kTopK;
  c.hidden_size = kHidden;
  c.intermediate_size = kInter;
  c.max_len = kMaxLen;
  c.weight_format = format;
  c.group_size = 32;
  c.path = path;
  c.num_threads = 2;
  c.tp_parts = tp_parts;
  return c;
}

std::vector<ExpertFloatWeights> RandomExperts(uint64_t seed) {
  std::vector<ExpertFloatWeights> experts;
  for (int64_t e = 0; e < kExperts; ++e) {
    experts.push_back({RandomMatrix(kInter, kHidden, seed + 3 * e, Distribution::kGaussian,
                                    1 / std::sqrt(float{kHidden})),
                       RandomMatrix(kInter, kHidden, seed + 3 * e + 1, Distribution::kGaussian,
                                    1 / std::sqrt(float{kHidden})),
                       RandomMatrix(kHidden, kInter, seed + 3 * e + 2, Distribution::kGaussian,
                                    1 / std::sqrt(float{kInter}))});
  }
  return experts;
}

Routing RandomRouting(int64_t qlen, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Routing r;
  std::vector<int64_t> order(kExperts);
  std::uniform_real_distribution<float> weight(0.05f, 1.0f);
  for (int64_t t = 0; t < qlen; ++t) {
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    for (int j = 0; j < r.k; ++j) {
      r.ids.push_back(order[j]);
      r.weights.push_back(weight(rng));
    }
  }
  return r;
}

std::vector<ExpertFloatWeights> Dequantized(const MoeLayer& layer) {
  std::vector<ExpertFloatWeights> experts;
  for (int64_t e = 0; e < kExperts; ++e) experts.push_back(layer.DequantizedExpert(e));
  return experts;
}

RowMatrixXf RunLayer(MoeLayer& layer, const Routing& r, const RowMatrixXf& x) {
  RowMatrixXf out(x.rows(), kHidden);
  const absl::Status s =
      layer.Forward(x.rows(), r.k, r.ids.data(), r.weights.data(), x.data(), out.data());
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

void ExpectMatchesReference(const MoeLayer& layer, const std::vector<ExpertFloatWeights>& floats,
                            const Routing& r, const RowMatrixXf& x, const RowMatrixXf& out,
                            const std::string& what, const ExpertExtras& extras) {
  const std::vector<ExpertFloatWeights> dequantized = Dequantized(layer);
  // Each expert rounds as the kernel of its rows does: all qlen rows in a decode call, its
  // tokens' in a prefill call.
  const auto rounding_of = [&](int64_t tokens) {
    const int64_t rows = x.rows() <= kDecodeMaxTokens ? x.rows() : tokens;
    return RoundingOf(layer.KernelFor(rows).path, layer.config().weight_format,
                      layer.kernel_block());
  };
  const MoeReferenceResult ref = ReferenceMoe(dequantized, x.rows(), r.k, r.ids.data(),
                                              r.weights.data(), x, rounding_of,
                                              layer.config().tp_parts, extras);
  const RowMatrixXd error = (out.cast<double>() - ref.output).cwiseAbs();
  int64_t violations = 0;
  double worst_ratio = 0;
  for (int64_t i = 0; i < error.size(); ++i) {
    worst_ratio = std::max(worst_ratio, error.data()[i] / ref.error_bound.data()[i]);
    if (!(error.data()[i] <= ref.error_bound.data()[i])) ++violations;
  }
  EXPECT_EQ(violations, 0) << what << ": worst error / bound = " << worst_ratio;
  const MoeReferenceResult exact =
      ReferenceMoe(floats, x.rows(), r.k, r.ids.data(), r.weights.data(), x, PathRounding{},
                   layer.config().tp_parts, extras);
  const double relative_rms =
      (out.cast<double>() - exact.output).norm() / std::max(exact.output.norm(), 1e-30);
  std::printf("%-48s kernels %-44s error/bound max %.3f, relative RMS error vs float weights "
              "%.4f\n",
              what.c_str(),
              layer.KernelsLabel(layer.AllKernels()).c_str(),
              worst_ratio, relative_rms);
}

}  // namespace fp4moe::moe
