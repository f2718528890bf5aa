#ifndef FP4MOE_FILES_INPUT_FILES_H_
#define FP4MOE_FILES_INPUT_FILES_H_

// Opening what the tools read: regular files only, checked on the open file, so that a FIFO
// (whose open would wait for a writer), a device such as /dev/zero (endless) or a directory is
// one clear error instead of a hang.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fp4moe::files {

// "a directory", "a FIFO", "a character device", ... for a file that is not a regular file.
const char* NonRegularKind(mode_t mode);

// A read-only descriptor of `path` (close it with ::close), or an error naming `what` and the
// path where it cannot be opened or is not a regular file. Opened without blocking, so a FIFO
// is refused at once.
absl::StatusOr<int> OpenRegularFile(const std::string& path, std::string_view what);

// The whole of a regular file of at most `max_bytes` bytes; larger files are refused before
// anything is read.
absl::StatusOr<std::string> ReadRegularFile(const std::string& path, std::string_view what,
                                            int64_t max_bytes);

}  // namespace fp4moe::files

#endif  // FP4MOE_FILES_INPUT_FILES_H_
