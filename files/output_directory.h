#ifndef FP4MOE_FILES_OUTPUT_DIRECTORY_H_
#define FP4MOE_FILES_OUTPUT_DIRECTORY_H_

// An output directory written all or nothing: its files go into a new temporary directory
// beside the final path, which Commit renames into place only if that path still does not
// exist. Destroyed without a successful Commit, it removes the temporary directory and all it
// holds, so a tool that fails half way leaves neither the directory nor the temporary one.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fp4moe::files {

class OutputDirectory {
 public:
  // Refuses a `path` that exists (of any kind: a directory is never merged into or replaced)
  // or whose parent directory does not; creates the temporary directory beside it.
  static absl::StatusOr<std::unique_ptr<OutputDirectory>> Create(const std::string& path);

  OutputDirectory(const OutputDirectory&) = delete;
  OutputDirectory& operator=(const OutputDirectory&) = delete;
  ~OutputDirectory();

  const std::string& path() const { return path_; }
  // Where the files go until Commit.
  const std::string& temp_path() const { return temp_path_; }

  // Syncs the temporary directory and renames it to path(), refusing (RENAME_NOREPLACE) should
  // something have appeared there meanwhile. Call it once.
  absl::Status Commit();

 private:
  OutputDirectory(std::string path, std::string temp_path)
      : path_(std::move(path)), temp_path_(std::move(temp_path)) {}

  std::string path_;
  std::string temp_path_;
  bool committed_ = false;
};

}  // namespace fp4moe::files

#endif  // FP4MOE_FILES_OUTPUT_DIRECTORY_H_
