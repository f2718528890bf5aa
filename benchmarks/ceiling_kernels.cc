#include "benchmarks/ceiling_kernels.h"

#include <string_view>

namespace fp4moe::kernels {

const Microkernel* FindCeiling(std::string_view name) {
  for (const auto ceilings :
       {W4a16AmxCeilings(), W4a16AmxSumsCeilings(), W4a16AmxTableCeilings()}) {
    for (const Microkernel& kernel : ceilings) {
      const std::string_view kernel_name = kernel.name;
      if (kernel_name.substr(0, name.size()) != name) continue;
      const std::string_view suffix = kernel_name.substr(name.size());
      if (suffix.empty() || suffix == "_32x32_amx" || suffix == "_16x16_amx" ||
          suffix == "_16x32_amx") {
        return &kernel;
      }
    }
  }
  return nullptr;
}

}  // namespace fp4moe::kernels
