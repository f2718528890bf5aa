#include "moe/small_layer.h"

#include <cmath>

#include "quant/random_matrix.h"

namespace fp4moe::moe {

MoeConfig SmallConfig(WeightFormat format, std::optional<kernels::GemmPath> path,
                      int tp_parts) {
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

}  // namespace fp4moe::moe
