#ifndef FP4MOE_FILES_OUTPUT_PATHS_H_
#define FP4MOE_FILES_OUTPUT_PATHS_H_

// The check every tool runs before it writes anything: that no output is one of its inputs,
// that no two outputs are one file, and that no output is a device, FIFO or directory.

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace fp4moe::files {

// A file as the user named it. `label` is the flag that named it ("--output"; messages show
// --output=PATH) or a description ("shard CSV"; messages show shard CSV PATH).
struct NamedPath {
  std::string label;
  std::string path;
};

// Refuses, with a message naming both paths:
// - an output that is the same file as an input, compared by device and inode, so that any
//   spelling of the path, a symlink or a hard link to the input is caught;
// - two outputs that are one file (outputs that do not exist yet: the same path once the
//   symlinks along it are resolved);
// - an output that exists and is not a regular file: writers truncate it or rename a temporary
//   file over it, which would replace /dev/null or a directory.
// Empty paths (an output not asked for) are skipped, and so are inputs that do not exist: the
// tool's own read reports those.
absl::Status CheckOutputPaths(const std::vector<NamedPath>& inputs,
                              const std::vector<NamedPath>& outputs);

}  // namespace fp4moe::files

#endif  // FP4MOE_FILES_OUTPUT_PATHS_H_
