#ifndef FP4MOE_FILES_FAILING_SYNC_H_
#define FP4MOE_FILES_FAILING_SYNC_H_

// For tests of what a tool does when the disk fails a sync (a directory sync after the renames
// of a commit, above all), which no file system does on demand: a test binary that links this
// gets its own fsync, which takes precedence over the C library's and fails with EIO on one
// chosen file or directory while a FailingSync lives; every other fsync is the real one.

#include <string>

namespace fp4moe::files {

class FailingSync {
 public:
  // Every descriptor of `path` (same device and inode) fails to sync from now on.
  explicit FailingSync(const std::string& path);
  FailingSync(const FailingSync&) = delete;
  FailingSync& operator=(const FailingSync&) = delete;
  ~FailingSync();
  // How many syncs of it failed.
  int failures() const;
};

}  // namespace fp4moe::files

#endif  // FP4MOE_FILES_FAILING_SYNC_H_
