#include "files/failing_sync.h"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>

namespace fp4moe::files {
namespace {

std::atomic<bool> armed{false};
dev_t failing_device;
ino_t failing_inode;
std::atomic<int> failure_count{0};

}  // namespace

FailingSync::FailingSync(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) std::abort();  // a test's own mistake
  failing_device = st.st_dev;
  failing_inode = st.st_ino;
  failure_count = 0;
  armed = true;
}

FailingSync::~FailingSync() { armed = false; }

int FailingSync::failures() const { return failure_count; }

}  // namespace fp4moe::files

// Defined in the executable, so the program's calls of fsync land here.
extern "C" int fsync(int fd) {
  using namespace fp4moe::files;
  struct stat st;
  if (armed && ::fstat(fd, &st) == 0 && st.st_dev == failing_device && st.st_ino == failing_inode) {
    ++failure_count;
    errno = EIO;
    return -1;
  }
  return static_cast<int>(::syscall(SYS_fsync, fd));
}
