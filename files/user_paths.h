#ifndef FP4MOE_FILES_USER_PATHS_H_
#define FP4MOE_FILES_USER_PATHS_H_

// Paths as the user typed them on the command line.

#include <string>

namespace fp4moe::files {

// `bazel run` starts binaries in their runfiles: a relative path means the directory the user
// ran bazel from ($BUILD_WORKING_DIRECTORY). Outside bazel run (no such variable), and for
// absolute or empty paths, the path is returned unchanged.
std::string UserPath(const std::string& path);

}  // namespace fp4moe::files

#endif  // FP4MOE_FILES_USER_PATHS_H_
