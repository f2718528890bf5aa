#include "files/output_paths.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "files/input_files.h"

namespace fp4moe::files {
namespace {

namespace fs = std::filesystem;

std::string Describe(const NamedPath& p) {
  return absl::StartsWith(p.label, "-") ? absl::StrCat(p.label, "=", p.path)
                                        : absl::StrCat(p.label, " ", p.path);
}

// What a path names: the file itself where it exists (stat follows symlinks), else the
// absolute path it would be created at.
struct Identity {
  std::optional<struct stat> file;
  std::string would_create;
};

bool SameFile(const Identity& a, const Identity& b) {
  if (a.file.has_value() != b.file.has_value()) return false;
  if (a.file) return a.file->st_dev == b.file->st_dev && a.file->st_ino == b.file->st_ino;
  return a.would_create == b.would_create;
}

// The path a write to `path` would create: dangling symlinks followed, then the symlinks and
// `..` of the part that exists resolved, so that two spellings of one new file compare equal.
std::string WouldCreate(const std::string& path) {
  std::error_code error;
  fs::path p = fs::absolute(path, error);
  if (error) return path;
  for (int hops = 0; hops < 40 && fs::is_symlink(fs::symlink_status(p, error)); ++hops) {
    const fs::path target = fs::read_symlink(p, error);
    if (error) break;
    p = target.is_absolute() ? target : p.parent_path() / target;
  }
  const fs::path resolved = fs::weakly_canonical(p, error);
  return error ? p.lexically_normal().string() : resolved.string();
}

absl::StatusOr<Identity> Identify(const NamedPath& p) {
  struct stat st;
  if (::stat(p.path.c_str(), &st) == 0) return Identity{st, ""};
  if (errno != ENOENT && errno != ENOTDIR) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cannot check %s: %s", Describe(p), std::strerror(errno)));
  }
  return Identity{std::nullopt, WouldCreate(p.path)};
}

}  // namespace

absl::Status CheckOutputPaths(const std::vector<NamedPath>& inputs,
                              const std::vector<NamedPath>& outputs) {
  std::vector<std::pair<const NamedPath*, Identity>> existing_inputs;
  for (const NamedPath& input : inputs) {
    if (input.path.empty()) continue;
    absl::StatusOr<Identity> id = Identify(input);
    if (!id.ok()) return id.status();
    if (id->file) existing_inputs.push_back({&input, *std::move(id)});
  }
  std::vector<std::pair<const NamedPath*, Identity>> checked_outputs;
  for (const NamedPath& output : outputs) {
    if (output.path.empty()) continue;
    absl::StatusOr<Identity> id = Identify(output);
    if (!id.ok()) return id.status();
    for (const auto& [input, input_id] : existing_inputs) {
      if (SameFile(*id, input_id)) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%s is the same file as input %s: refusing to overwrite an input",
                            Describe(output), Describe(*input)));
      }
    }
    if (id->file && !S_ISREG(id->file->st_mode)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s exists and is %s, not a regular file: refusing to write over it",
          Describe(output), NonRegularKind(id->file->st_mode)));
    }
    for (const auto& [other, other_id] : checked_outputs) {
      if (SameFile(*id, other_id)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s is the same file as output %s: each output needs a file of its own",
            Describe(output), Describe(*other)));
      }
    }
    checked_outputs.push_back({&output, *std::move(id)});
  }
  return absl::OkStatus();
}

}  // namespace fp4moe::files
