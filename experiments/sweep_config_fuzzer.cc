// libFuzzer target: any text given to the sweep config parser gives a config or an error,
// never a crash. Built and run by tools/fuzz.sh (clang, outside Bazel).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "experiments/sweep_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)fp4moe::experiments::ParseSweepConfig(text, "fuzz.textproto");
  return 0;
}
