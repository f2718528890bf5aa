#include "files/output_directory.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_format.h"

namespace fp4moe::files {
namespace {

namespace fs = std::filesystem;

absl::Status ErrnoError(int error, std::string_view doing, std::string_view path) {
  return absl::ErrnoToStatus(error, absl::StrFormat("cannot %s %s", doing, path));
}

}  // namespace

absl::StatusOr<std::unique_ptr<OutputDirectory>> OutputDirectory::Create(
    const std::string& path) {
  // Without a trailing slash, so that the temporary name is a sibling, not a child.
  const fs::path final_path = fs::path(path).lexically_normal();
  const std::string clean =
      final_path.has_filename() ? final_path.string() : final_path.parent_path().string();
  struct stat st;
  if (::lstat(clean.c_str(), &st) == 0) {
    return absl::AlreadyExistsError(
        absl::StrFormat("%s exists: refusing to overwrite it (give a new directory)", clean));
  }
  if (errno != ENOENT) return ErrnoError(errno, "check", clean);
  std::string temp = clean + ".tmp-XXXXXX";
  if (::mkdtemp(temp.data()) == nullptr) {
    return ErrnoError(errno, "create a temporary directory beside", clean);
  }
  return std::unique_ptr<OutputDirectory>(new OutputDirectory(clean, temp));
}

OutputDirectory::~OutputDirectory() {
  if (committed_) return;
  std::error_code ignored;
  fs::remove_all(temp_path_, ignored);
}

absl::Status OutputDirectory::Commit() {
  const int fd = ::open(temp_path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open", temp_path_);
  const bool synced = ::fsync(fd) == 0;
  const int sync_error = errno;
  ::close(fd);
  if (!synced) return ErrnoError(sync_error, "sync", temp_path_);
  // A plain rename would replace an empty directory made there since Create.
  if (::renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, path_.c_str(), RENAME_NOREPLACE) != 0) {
    return ErrnoError(errno, absl::StrFormat("rename %s to", temp_path_), path_);
  }
  committed_ = true;
  return absl::OkStatus();
}

}  // namespace fp4moe::files
