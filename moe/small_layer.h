#ifndef FP4MOE_MOE_SMALL_LAYER_H_
#define FP4MOE_MOE_SMALL_LAYER_H_

// A small MoE layer for the operator's tests: its config and random float experts.

#include <cstdint>
#include <optional>
#include <vector>

#include "kernels/microkernel.h"
#include "moe/expert_weights.h"
#include "moe/moe_config.h"
#include "quant/format.h"

namespace fp4moe::moe {

inline constexpr int64_t kExperts = 8, kHidden = 256, kInter = 128, kMaxLen = 512;
inline constexpr int kTopK = 3;

// path nullopt: the auto path. Two threads.
MoeConfig SmallConfig(WeightFormat format, std::optional<kernels::GemmPath> path,
                      int tp_parts = 1);

// kExperts experts, scaled so that gate and up outputs, and the layer's output, are of order 1.
std::vector<ExpertFloatWeights> RandomExperts(uint64_t seed);

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_SMALL_LAYER_H_
