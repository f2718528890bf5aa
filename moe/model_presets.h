#ifndef FP4MOE_MOE_MODEL_PRESETS_H_
#define FP4MOE_MOE_MODEL_PRESETS_H_

// The MoE layers that the benchmarks and the sweeps name: each model's routed experts (shape,
// top-k, activation, whether they have biases), as their Hugging Face config.json files give
// them.

#include <cstdint>
#include <string>
#include <string_view>

#include "moe/expert_weights.h"
#include "moe/moe_config.h"

namespace fp4moe::moe {

struct ModelPreset {
  std::string_view name;
  int64_t hidden, intermediate, experts;
  int top_k;
  ExpertActivation activation;
  float swiglu_limit;  // kClampedSwiglu only
  bool biases;  // on gate, up and down (gpt-oss)
};

inline constexpr ModelPreset kModelPresets[] = {
    {"deepseek_v3", 7168, 2048, 256, 8, ExpertActivation::kSiluMul, 0, false},
    {"qwen3_30b_a3b", 2048, 768, 128, 8, ExpertActivation::kSiluMul, 0, false},
    {"mixtral", 4096, 14336, 8, 2, ExpertActivation::kSiluMul, 0, false},
    {"gpt_oss_120b", 2880, 2880, 128, 4, ExpertActivation::kClampedSwiglu, 7.0f, true},
};

// The preset named `name`, or nullptr.
const ModelPreset* FindModelPreset(std::string_view name);
// Every preset's name, comma separated (for flags' help and errors).
std::string ModelPresetNames();

// Gaussian biases for one expert of that shape (standard deviation 0.02), for layers of a
// preset with biases built from random weights.
ExpertBiases RandomExpertBiases(int64_t hidden, int64_t intermediate, uint64_t seed);

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_MODEL_PRESETS_H_
