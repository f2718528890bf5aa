#include "moe/model_presets.h"

#include <string>
#include <string_view>

#include "absl/strings/str_join.h"

namespace fp4moe::moe {

const ModelPreset* FindModelPreset(std::string_view name) {
  for (const ModelPreset& preset : kModelPresets) {
    if (preset.name == name) return &preset;
  }
  return nullptr;
}

std::string ModelPresetNames() {
  return absl::StrJoin(kModelPresets, ", ", [](std::string* out, const ModelPreset& preset) {
    out->append(preset.name);
  });
}

}  // namespace fp4moe::moe
