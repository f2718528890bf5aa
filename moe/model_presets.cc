#include "moe/model_presets.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_join.h"
#include "quant/random_matrix.h"

namespace fp4moe::moe {

const ModelPreset* FindModelPreset(std::string_view name) {
  for (const ModelPreset& preset : kModelPresets) {
    if (preset.name == name) return &preset;
  }
  return nullptr;
}

ExpertBiases RandomExpertBiases(int64_t hidden, int64_t intermediate, uint64_t seed) {
  const auto vector = [](const RowMatrixXf& row) {
    return std::vector<float>(row.data(), row.data() + row.size());
  };
  constexpr float kStddev = 0.02f;
  return {vector(RandomMatrix(1, intermediate, seed, Distribution::kGaussian, kStddev)),
          vector(RandomMatrix(1, intermediate, seed + 1, Distribution::kGaussian, kStddev)),
          vector(RandomMatrix(1, hidden, seed + 2, Distribution::kGaussian, kStddev))};
}

std::string ModelPresetNames() {
  return absl::StrJoin(kModelPresets, ", ", [](std::string* out, const ModelPreset& preset) {
    out->append(preset.name);
  });
}

}  // namespace fp4moe::moe
