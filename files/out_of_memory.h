#ifndef FP4MOE_FILES_OUT_OF_MEMORY_H_
#define FP4MOE_FILES_OUT_OF_MEMORY_H_

// The last line of defence of the tools' mains against running out of memory under a process
// limit (ulimit -v) where no nearer code names what was being allocated.

#include <functional>
#include <string_view>

namespace fp4moe::files {

// Returns `run`'s exit code; where a std::bad_alloc escapes it (its outputs' temporaries are
// removed by their owners as it unwinds), prints "TOOL: out of memory ..." on stderr and returns 1.
int ExitCodeCatchingOutOfMemory(std::string_view tool, const std::function<int()>& run);

}  // namespace fp4moe::files

#endif  // FP4MOE_FILES_OUT_OF_MEMORY_H_
