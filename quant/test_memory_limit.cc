#include "quant/test_memory_limit.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace fp4moe {

absl::Status RunUnderMemoryLimit(int64_t extra_bytes, const std::function<void()>& run) {
  int64_t pages = 0;  // the first field of statm: the address space mapped now
  std::ifstream("/proc/self/statm") >> pages;
  if (pages <= 0) return absl::InternalError("cannot read /proc/self/statm");
  rlimit saved;
  if (::getrlimit(RLIMIT_AS, &saved) != 0) {
    return absl::InternalError(absl::StrCat("getrlimit: ", std::strerror(errno)));
  }
  rlimit limited = saved;
  limited.rlim_cur = pages * ::sysconf(_SC_PAGESIZE) + extra_bytes;
  if (::setrlimit(RLIMIT_AS, &limited) != 0) {
    return absl::InternalError(absl::StrCat("setrlimit: ", std::strerror(errno)));
  }
  run();
  if (::setrlimit(RLIMIT_AS, &saved) != 0) {
    return absl::InternalError(absl::StrCat("setrlimit back: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace fp4moe
