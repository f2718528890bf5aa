#include "files/out_of_memory.h"

#include <cstdio>

namespace fp4moe::files {
namespace {

constexpr char kOutOfMemory[] = "out of memory (is the process's memory limited, ulimit -v?)";

// Built before main, so that it is there when not even an error message can be allocated.
const absl::Status* const kOutOfMemoryError = new absl::Status(
    absl::ResourceExhaustedError(kOutOfMemory));

}  // namespace

const absl::Status& OutOfMemoryErrorAllocatingNothing() { return *kOutOfMemoryError; }

absl::Status OutOfMemoryError(std::string_view doing) {
  return absl::ResourceExhaustedError(StrFormatOrBadAlloc("%s: %s", doing, kOutOfMemory));
}

int ExitCodeCatchingOutOfMemory(std::string_view tool, const std::function<int()>& run) {
  try {
    return run();
  } catch (const std::bad_alloc&) {
    // Printed as it is, without building a message: memory may still be short.
    std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(tool.size()), tool.data(), kOutOfMemory);
    return 1;
  }
}

}  // namespace fp4moe::files
