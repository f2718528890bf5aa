#include "files/out_of_memory.h"

#include <cstdio>
#include <new>
#include <string>

namespace fp4moe::files {

int ExitCodeCatchingOutOfMemory(std::string_view tool, const std::function<int()>& run) {
  try {
    return run();
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: out of memory (is the process's memory limited, ulimit -v?)\n",
                 std::string(tool).c_str());
    return 1;
  }
}

}  // namespace fp4moe::files
