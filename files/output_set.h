#ifndef FP4MOE_FILES_OUTPUT_SET_H_
#define FP4MOE_FILES_OUTPUT_SET_H_

// Several output files written all or nothing. Each file is written under a temporary name
// beside its final path, and Commit renames them all into place only once every write, fsync
// and close has succeeded. A set destroyed without a successful Commit removes its temporary
// files and the directories it created, so a tool that fails half way (a full disk, a file size
// limit, a failed plot) leaves none of its outputs behind, not even those it wrote first.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fp4moe::files {

// One output file of an OutputSet, under its temporary name until the set commits.
class OutputFile {
 public:
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  ~OutputFile();

  // Writes all of `data` straight to the file (no buffering: what returned OK is in the file);
  // an error names the final path and the reason (a full disk: "No space left on device").
  absl::Status Write(std::string_view data);

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  friend class OutputSet;
  OutputFile(std::string path, std::string temp_path, int fd)
      : path_(std::move(path)), temp_path_(std::move(temp_path)), fd_(fd) {}
  // fsync and close, each checked.
  absl::Status Finish();

  std::string path_;
  std::string temp_path_;
  int fd_;
};

class OutputSet {
 public:
  OutputSet() = default;
  OutputSet(const OutputSet&) = delete;
  OutputSet& operator=(const OutputSet&) = delete;
  // Without a successful Commit: removes every temporary file, staging directory and directory
  // the set created (a directory only while it is empty: nothing of anyone else's goes).
  ~OutputSet();

  // Creates `dir` and the directories missing above it.
  absl::Status MakeDirectories(const std::string& dir);

  // A new temporary file beside `path`, whose directory must exist, created as a new file would
  // be (mode 0666 less the umask). The file stays valid while the set lives.
  absl::StatusOr<OutputFile*> Create(const std::string& path);

  // A new empty directory inside `dir` (which must exist) for files another program writes
  // (gnuplot's plots): at Commit each file in it moves to `dir` under its own name.
  absl::StatusOr<std::string> MakeStagingDirectory(const std::string& dir);

  // Syncs and closes every file, renames each over its final path, then syncs the directories
  // they are in. Refuses to replace a path that exists and is neither a regular file nor a
  // symlink (a device such as /dev/null, a FIFO, a directory), checked for every file before
  // any is renamed. Should a rename or a sync still fail, the renames done are undone,
  // previous outputs put back (except on a file system that cannot swap two names), and the
  // error returned. Interruptions wait (interrupt_cleanup.h). Call it once.
  absl::Status Commit();

 private:
  struct Staging {
    std::string dir;    // where the files go
    std::string stage;  // where they are written
  };
  // What Commit moves: (temporary path, final path).
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> FinishAll();

  std::vector<std::unique_ptr<OutputFile>> files_;
  std::vector<Staging> staging_;
  std::vector<std::string> created_directories_;  // in creation order
  bool committed_ = false;
};

// `text` written to `path` (whose directory must exist) whole or not at all: one file of an
// OutputSet, committed.
absl::Status WriteWholeFile(const std::string& path, std::string_view text);

// fsync of a directory, which makes the renames and new names in it last.
absl::Status SyncDirectory(const std::string& dir);

}  // namespace fp4moe::files

#endif  // FP4MOE_FILES_OUTPUT_SET_H_
