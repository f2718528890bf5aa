#include "files/output_set.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <set>
#include <system_error>

#include "absl/strings/str_format.h"
#include "files/input_files.h"
#include "files/interrupt_cleanup.h"

namespace fp4moe::files {
namespace {

namespace fs = std::filesystem;

absl::Status ErrnoError(int error, std::string_view doing, std::string_view path) {
  return absl::ErrnoToStatus(error, absl::StrFormat("cannot %s %s", doing, path));
}

// Opens a new file for writing whose name is `path` and a suffix unique to this process;
// O_EXCL, so that an existing file (or a symlink planted there) is never written through.
absl::StatusOr<std::pair<std::string, int>> CreateTemporary(const std::string& path) {
  static std::atomic<int> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string temp = absl::StrFormat("%s.tmp-%d-%d", path, ::getpid(), counter++);
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return std::make_pair(std::move(temp), fd);
    if (errno != EEXIST) return ErrnoError(errno, "create a temporary file beside", path);
  }
  return absl::AlreadyExistsError(
      absl::StrFormat("cannot create a temporary file beside %s: every name tried exists", path));
}

absl::Status SyncFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open", path);
  absl::Status status;
  if (::fsync(fd) != 0) status = ErrnoError(errno, "sync", path);
  if (::close(fd) != 0 && status.ok()) status = ErrnoError(errno, "close", path);
  return status;
}

// A rename over a device or FIFO would replace it (as root, /dev/null itself); a symlink is
// replaced as a name, leaving its target alone, like any new file written there.
absl::Status CheckReplaceable(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? absl::OkStatus() : ErrnoError(errno, "check", path);
  }
  if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrFormat("%s exists and is %s, not a regular file: refusing to replace it", path,
                      NonRegularKind(st.st_mode)));
}

// One rename of a commit: a temporary file to its final path.
struct Move {
  std::string from, to;
  bool done = false;      // renamed
  bool replaced = false;  // swapped with a previous output, now at `from`
};

// A rename over an existing output swaps the two (RENAME_EXCHANGE), so that it can be undone
// until the whole set is in place: the previous output waits under the temporary name.
absl::Status CommitMove(Move& move) {
  if (::renameat2(AT_FDCWD, move.from.c_str(), AT_FDCWD, move.to.c_str(), RENAME_EXCHANGE) ==
      0) {
    move.done = move.replaced = true;
    // Checked before Commit, but it may have become a directory since: never moved aside.
    if (absl::Status s = CheckReplaceable(move.from); !s.ok()) {
      ::renameat2(AT_FDCWD, move.from.c_str(), AT_FDCWD, move.to.c_str(), RENAME_EXCHANGE);
      move.done = move.replaced = false;
      return absl::FailedPreconditionError(
          absl::StrFormat("%s changed during the commit: %s", move.to, s.message()));
    }
    return absl::OkStatus();
  }
  // ENOENT: nothing to replace (or no temporary: the rename says so); EINVAL: a file system
  // that cannot swap, where the previous output is replaced for good.
  if (errno != ENOENT && errno != EINVAL) {
    return ErrnoError(errno, absl::StrFormat("rename %s to", move.from), move.to);
  }
  if (::rename(move.from.c_str(), move.to.c_str()) != 0) {
    return ErrnoError(errno, absl::StrFormat("rename %s to", move.from), move.to);
  }
  move.done = true;
  return absl::OkStatus();
}

// Back to the temporary name, the previous output (if swapped) back in place.
void UndoMove(const Move& move) {
  if (move.replaced) {
    ::renameat2(AT_FDCWD, move.from.c_str(), AT_FDCWD, move.to.c_str(), RENAME_EXCHANGE);
  } else if (move.done) {
    ::rename(move.to.c_str(), move.from.c_str());
  }
}

// The renames last only once the directories holding them are synced.
absl::Status SyncDirectoriesOf(const std::vector<Move>& moves) {
  std::set<std::string> dirs;
  for (const Move& move : moves) {
    const fs::path parent = fs::path(move.to).parent_path();
    dirs.insert(parent.empty() ? "." : parent.string());
  }
  for (const std::string& dir : dirs) {
    if (absl::Status s = SyncDirectory(dir); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

OutputFile::~OutputFile() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status OutputFile::Write(std::string_view data) {
  while (!data.empty()) {
    const ssize_t written = ::write(fd_, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "write", path_);
    }
    data.remove_prefix(static_cast<size_t>(written));
  }
  return absl::OkStatus();
}

absl::Status OutputFile::Finish() {
  absl::Status status;
  if (::fsync(fd_) != 0) status = ErrnoError(errno, "sync", path_);
  if (::close(fd_) != 0 && status.ok()) status = ErrnoError(errno, "close", path_);
  fd_ = -1;
  return status;
}

OutputSet::~OutputSet() {
  if (committed_) return;
  for (const std::unique_ptr<OutputFile>& file : files_) {
    ::unlink(file->temp_path().c_str());
    ForgetTemporary(file->temp_path());
  }
  std::error_code ignored;
  for (const Staging& staging : staging_) {
    fs::remove_all(staging.stage, ignored);
    ForgetTemporary(staging.stage);
  }
  for (auto dir = created_directories_.rbegin(); dir != created_directories_.rend(); ++dir) {
    ::rmdir(dir->c_str());  // fails, keeping it, where someone else put files in it
    ForgetTemporary(*dir);
  }
}

absl::Status OutputSet::MakeDirectories(const std::string& dir) {
  std::vector<fs::path> missing;
  for (fs::path p = fs::path(dir).lexically_normal(); !p.empty(); p = p.parent_path()) {
    struct stat st;
    if (::stat(p.c_str(), &st) == 0) break;
    if (errno != ENOENT) return ErrnoError(errno, "check", p.string());
    if (p.has_filename()) missing.push_back(p);  // "a/b/" is "a/b", next
    if (p == p.parent_path()) break;
  }
  const auto held = HoldOffInterrupts();
  for (auto p = missing.rbegin(); p != missing.rend(); ++p) {
    if (::mkdir(p->c_str(), 0777) != 0) return ErrnoError(errno, "create directory", p->string());
    created_directories_.push_back(p->string());
    RecordTemporary(p->string(), TemporaryKind::kEmptyDirectory);
  }
  return absl::OkStatus();
}

absl::StatusOr<OutputFile*> OutputSet::Create(const std::string& path) {
  const auto held = HoldOffInterrupts();
  absl::StatusOr<std::pair<std::string, int>> temp = CreateTemporary(path);
  if (!temp.ok()) return temp.status();
  RecordTemporary(temp->first, TemporaryKind::kFile);
  files_.push_back(std::unique_ptr<OutputFile>(new OutputFile(path, temp->first, temp->second)));
  return files_.back().get();
}

absl::StatusOr<std::string> OutputSet::MakeStagingDirectory(const std::string& dir) {
  std::string stage = (fs::path(dir) / ".staging-XXXXXX").string();
  const auto held = HoldOffInterrupts();
  if (::mkdtemp(stage.data()) == nullptr) {
    return ErrnoError(errno, "create a staging directory in", dir);
  }
  RecordTemporary(stage, TemporaryKind::kTree);
  staging_.push_back({dir, stage});
  return stage;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> OutputSet::FinishAll() {
  std::vector<std::pair<std::string, std::string>> moves;
  for (const std::unique_ptr<OutputFile>& file : files_) {
    if (absl::Status s = file->Finish(); !s.ok()) return s;
    moves.push_back({file->temp_path(), file->path()});
  }
  for (const Staging& staging : staging_) {
    std::error_code error;
    for (fs::directory_iterator it(staging.stage, error), end; !error && it != end;
         it.increment(error)) {
      const fs::path& written = it->path();
      if (!fs::is_regular_file(fs::symlink_status(written))) {
        return absl::InternalError(
            absl::StrFormat("%s is not a regular file: nothing but files is written there",
                            written.string()));
      }
      if (absl::Status s = SyncFile(written.string()); !s.ok()) return s;
      moves.push_back({written.string(), (fs::path(staging.dir) / written.filename()).string()});
    }
    if (error) return ErrnoError(error.value(), "list", staging.stage);
  }
  return moves;
}

absl::Status OutputSet::Commit() {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> paths = FinishAll();
  if (!paths.ok()) return paths.status();
  std::vector<Move> moves;
  for (auto& [temp, path] : *paths) {
    if (absl::Status s = CheckReplaceable(path); !s.ok()) return s;
    moves.push_back({std::move(temp), std::move(path)});
  }
  const auto held = HoldOffInterrupts();
  absl::Status status;
  for (size_t i = 0; i < moves.size() && status.ok(); ++i) status = CommitMove(moves[i]);
  if (status.ok()) status = SyncDirectoriesOf(moves);
  if (!status.ok()) {
    for (auto move = moves.rbegin(); move != moves.rend(); ++move) UndoMove(*move);
    return status;
  }
  committed_ = true;
  for (const Move& move : moves) {
    if (move.replaced) ::unlink(move.from.c_str());  // the previous output, swapped aside
    ForgetTemporary(move.from);
  }
  for (const Staging& staging : staging_) {
    ::rmdir(staging.stage.c_str());
    ForgetTemporary(staging.stage);
  }
  for (const std::string& dir : created_directories_) ForgetTemporary(dir);
  return absl::OkStatus();
}

absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open directory", dir);
  absl::Status status;
  if (::fsync(fd) != 0) status = ErrnoError(errno, "sync directory", dir);
  ::close(fd);
  return status;
}

absl::Status WriteWholeFile(const std::string& path, std::string_view text) {
  OutputSet set;
  absl::StatusOr<OutputFile*> file = set.Create(path);
  if (!file.ok()) return file.status();
  if (absl::Status s = (*file)->Write(text); !s.ok()) return s;
  return set.Commit();
}

}  // namespace fp4moe::files
