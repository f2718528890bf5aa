#include "files/user_paths.h"

#include <cstdlib>
#include <filesystem>

namespace fp4moe::files {

std::string UserPath(const std::string& path) {
  const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || cwd == nullptr || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(cwd) / path).string();
}

}  // namespace fp4moe::files
