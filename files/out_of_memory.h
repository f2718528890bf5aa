#ifndef FP4MOE_FILES_OUT_OF_MEMORY_H_
#define FP4MOE_FILES_OUT_OF_MEMORY_H_

// Running out of memory under a process limit (ulimit -v), below the machine's memory that
// sizes are checked against: one error naming what was being done, never an abort. For the
// steps that allocate (and OpenMP loop bodies, out of which no exception may propagate: it
// would end the process in std::terminate), and as the last line of defence of the tools'
// mains where no nearer code names what was being allocated.

#include <algorithm>
#include <functional>
#include <new>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace fp4moe::files {

// ResourceExhausted: "DOING: out of memory (is the process's memory limited, ulimit -v?)".
absl::Status OutOfMemoryError(std::string_view doing);

// The same without naming what was being done: a copy allocates nothing.
const absl::Status& OutOfMemoryErrorAllocatingNothing();

// Returns step()'s absl::Status or absl::StatusOr; where it throws std::bad_alloc,
// OutOfMemoryError(doing()) instead. `doing` (returning a std::string) runs only then, so that
// naming the work costs nothing when it succeeds; where naming it runs out of memory too (other
// threads may still hold theirs), OutOfMemoryErrorAllocatingNothing().
template <typename Doing, typename Step>
auto CatchOutOfMemory(const Doing& doing, const Step& step) -> decltype(step());

// absl::StrFormat for the messages built while memory may be short (`doing` above): the same
// text, allocated once as an ordinary std::string, so that running out of memory throws
// std::bad_alloc there. StrFormat's sink appends its text from a destructor, where a
// std::bad_alloc ends the process in std::terminate instead (seen under ulimit -v).
template <typename... Args>
std::string StrFormatOrBadAlloc(const absl::FormatSpec<Args...>& format, const Args&... args);

// Returns `run`'s exit code; where a std::bad_alloc escapes it (its outputs' temporaries are
// removed by their owners as it unwinds), prints "TOOL: out of memory ..." on stderr and returns 1.
int ExitCodeCatchingOutOfMemory(std::string_view tool, const std::function<int()>& run);

// Implementation.

template <typename Doing, typename Step>
auto CatchOutOfMemory(const Doing& doing, const Step& step) -> decltype(step()) {
  try {
    return step();
  } catch (const std::bad_alloc&) {
  }
  try {
    return OutOfMemoryError(doing());
  } catch (const std::bad_alloc&) {
    return OutOfMemoryErrorAllocatingNothing();
  }
}

template <typename... Args>
std::string StrFormatOrBadAlloc(const absl::FormatSpec<Args...>& format, const Args&... args) {
  char probe[1];
  const int size = absl::SNPrintF(probe, sizeof(probe), format, args...);
  std::string text(static_cast<size_t>(std::max(size, 0)), '\0');
  absl::SNPrintF(text.data(), text.size() + 1, format, args...);
  return text;
}

}  // namespace fp4moe::files

#endif  // FP4MOE_FILES_OUT_OF_MEMORY_H_
