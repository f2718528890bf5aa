#ifndef FP4MOE_MOE_MOE_TEST_HELPERS_H_
#define FP4MOE_MOE_MOE_TEST_HELPERS_H_

// What the operator's tests share: a small layer, random experts and routing, and the check
// of a Forward result against the reference within its derived bound.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernels/microkernel.h"
#include "moe/expert_weights.h"
#include "moe/moe.h"
#include "moe/moe_config.h"
#include "moe/moe_reference.h"
#include "quant/matrix.h"

namespace fp4moe::moe {

inline constexpr int64_t kExperts = 8, kHidden = 256, kInter = 128, kMaxLen = 512;
inline constexpr int kTopK = 3;

// kExperts experts of kHidden x kInter, top-kTopK, kMaxLen tokens, two threads; path nullopt:
// the auto path.
MoeConfig SmallConfig(WeightFormat format, std::optional<kernels::GemmPath> path,
                      int tp_parts = 1);

// Scaled so that gate and up outputs, and the layer's output, are of order 1.
std::vector<ExpertFloatWeights> RandomExperts(uint64_t seed);

struct Routing {
  int k = kTopK;
  std::vector<int64_t> ids;
  std::vector<float> weights;
};

// k distinct experts per token, softmax-like positive weights.
Routing RandomRouting(int64_t qlen, uint64_t seed);

std::vector<ExpertFloatWeights> Dequantized(const MoeLayer& layer);

RowMatrixXf RunLayer(MoeLayer& layer, const Routing& r, const RowMatrixXf& x);

// Checks the operator against the reference on its dequantized weights within the derived
// bound, and prints (does not assert) the error against the unquantized float weights.
void ExpectMatchesReference(const MoeLayer& layer, const std::vector<ExpertFloatWeights>& floats,
                            const Routing& r, const RowMatrixXf& x, const RowMatrixXf& out,
                            const std::string& what, const ExpertExtras& extras = {});

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_MOE_TEST_HELPERS_H_
