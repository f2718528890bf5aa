#include "files/input_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"

namespace fp4moe::files {
namespace {

absl::Status ErrnoError(int error, std::string_view doing, std::string_view what,
                        const std::string& path) {
  const std::string message =
      absl::StrFormat("cannot %s %s %s: %s", doing, what, path, std::strerror(error));
  return error == ENOENT ? absl::NotFoundError(message) : absl::PermissionDeniedError(message);
}

}  // namespace

const char* NonRegularKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

absl::StatusOr<int> OpenRegularFile(const std::string& path, std::string_view what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open", what, path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return ErrnoError(error, "stat", what, path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s %s is %s, not a regular file", what, path, NonRegularKind(st.st_mode)));
  }
  return fd;
}

absl::StatusOr<std::string> ReadRegularFile(const std::string& path, std::string_view what,
                                            int64_t max_bytes) {
  absl::StatusOr<int> fd = OpenRegularFile(path, what);
  if (!fd.ok()) return fd.status();
  struct stat st;
  if (::fstat(*fd, &st) != 0) {
    const int error = errno;
    ::close(*fd);
    return ErrnoError(error, "stat", what, path);
  }
  if (st.st_size > max_bytes) {
    ::close(*fd);
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s %s is %d bytes; the limit is %d", what, path, static_cast<int64_t>(st.st_size),
        max_bytes));
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t got = ::read(*fd, text.data() + done, text.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      const int error = got < 0 ? errno : EIO;
      ::close(*fd);
      return ErrnoError(error, "read", what, path);
    }
    done += static_cast<size_t>(got);
  }
  ::close(*fd);
  return text;
}

}  // namespace fp4moe::files
