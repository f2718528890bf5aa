#include "files/output_directory.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_format.h"
#include "files/interrupt_cleanup.h"
#include "files/output_set.h"

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
  const auto held = HoldOffInterrupts();
  if (::mkdtemp(temp.data()) == nullptr) {
    return ErrnoError(errno, "create a temporary directory beside", clean);
  }
  RecordTemporary(temp, TemporaryKind::kTree);
  return std::unique_ptr<OutputDirectory>(new OutputDirectory(clean, temp));
}

OutputDirectory::~OutputDirectory() {
  if (committed_) return;
  std::error_code ignored;
  fs::remove_all(temp_path_, ignored);
  ForgetTemporary(temp_path_);
}

absl::Status OutputDirectory::Commit() {
  if (absl::Status s = SyncDirectory(temp_path_); !s.ok()) return s;
  const auto held = HoldOffInterrupts();
  // A plain rename would replace an empty directory made there since Create.
  if (::renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, path_.c_str(), RENAME_NOREPLACE) != 0) {
    return ErrnoError(errno, absl::StrFormat("rename %s to", temp_path_), path_);
  }
  const fs::path parent = fs::path(path_).parent_path();
  if (absl::Status s = SyncDirectory(parent.empty() ? "." : parent.string()); !s.ok()) {
    ::rename(path_.c_str(), temp_path_.c_str());  // not committed: removed with the rest
    return s;
  }
  committed_ = true;
  ForgetTemporary(temp_path_);
  return absl::OkStatus();
}

}  // namespace fp4moe::files
