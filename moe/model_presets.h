#ifndef FP4MOE_MOE_MODEL_PRESETS_H_
#define FP4MOE_MOE_MODEL_PRESETS_H_

// The MoE layers that the benchmarks and the sweeps name: each model's routed experts (shape,
// top-k, activation), as their Hugging Face config.json files give them. gpt-oss's expert
// biases are left out: they add one row add per product.

#include <cstdint>
#include <string>
#include <string_view>

#include "moe/moe_config.h"

namespace fp4moe::moe {

struct ModelPreset {
  std::string_view name;
  int64_t hidden, intermediate, experts;
  int top_k;
  ExpertActivation activation;
  float swiglu_limit;  // kClampedSwiglu only
};

inline constexpr ModelPreset kModelPresets[] = {
    {"deepseek_v3", 7168, 2048, 256, 8, ExpertActivation::kSiluMul, 0},
    {"qwen3_30b_a3b", 2048, 768, 128, 8, ExpertActivation::kSiluMul, 0},
    {"mixtral", 4096, 14336, 8, 2, ExpertActivation::kSiluMul, 0},
    {"gpt_oss_120b", 2880, 2880, 128, 4, ExpertActivation::kClampedSwiglu, 7.0f},
};

// The preset named `name`, or nullptr.
const ModelPreset* FindModelPreset(std::string_view name);
// Every preset's name, comma separated (for flags' help and errors).
std::string ModelPresetNames();

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_MODEL_PRESETS_H_
