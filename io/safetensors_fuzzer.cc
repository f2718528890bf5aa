// libFuzzer target: any bytes given to the safetensors reader give an error or a file whose
// every tensor reads in bounds. Built and run by tools/fuzz.sh (clang, outside Bazel).

#include <cstddef>
#include <cstdint>
#include <string>

#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<fp4moe::io::SafetensorsFile> file =
      fp4moe::io::SafetensorsFile::FromBytes(absl::MakeConstSpan(data, size), "fuzz");
  if (!file.ok()) return 0;
  for (const std::string& name : file->names()) {
    // Each accessor either refuses the tensor or reads all of it.
    (void)file->ReadMatrix(name);
    (void)file->ReadScalar(name);
    (void)file->ReadIntegers(name);
    const fp4moe::io::TensorView* view = *file->Get(name);
    if (view->numel() * fp4moe::io::DtypeBytes(view->dtype) !=
        static_cast<int64_t>(view->bytes.size())) {
      __builtin_trap();
    }
  }
  return 0;
}
