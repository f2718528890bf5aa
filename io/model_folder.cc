#include "io/model_folder.h"

#include <filesystem>
#include <set>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "files/input_files.h"
#include "nlohmann/json.hpp"

namespace fp4moe::io {
namespace {

using nlohmann::json;

constexpr char kConfig[] = "config.json";
constexpr char kIndex[] = "model.safetensors.index.json";
constexpr char kSingleFile[] = "model.safetensors";
// config.json is a few kilobytes; DeepSeek-V3's index, naming 90 000 tensors, 9 MB.
constexpr int64_t kMaxConfigBytes = int64_t{16} << 20;
constexpr int64_t kMaxIndexBytes = int64_t{256} << 20;

std::string Join(const std::string& dir, std::string_view name) {
  return (std::filesystem::path(dir) / std::string(name)).string();
}

// A shard must be a file of the folder itself: no directories, no way out of it.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ModelFolder>> ModelFolder::Open(const std::string& dir) {
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: not a directory (a model folder holds config.json and model.safetensors or "
        "model.safetensors.index.json with its shards)",
        dir));
  }
  std::unique_ptr<ModelFolder> folder(new ModelFolder());
  folder->dir_ = dir;
  const std::string config_path = Join(dir, kConfig);
  absl::StatusOr<std::string> config_text =
      files::ReadRegularFile(config_path, "model config", kMaxConfigBytes);
  if (!config_text.ok()) return config_text.status();
  absl::StatusOr<ModelConfig> config = ParseModelConfig(*config_text, config_path);
  if (!config.ok()) return config.status();
  folder->config_ = *std::move(config);

  if (std::filesystem::exists(Join(dir, kIndex), error)) {
    if (absl::Status s = folder->ReadIndex(); !s.ok()) return s;
    return folder;
  }
  folder->weights_path_ = Join(dir, kSingleFile);
  if (!std::filesystem::exists(folder->weights_path_, error)) {
    return absl::NotFoundError(
        absl::StrFormat("%s: neither %s nor %s is there", dir, kIndex, kSingleFile));
  }
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(folder->weights_path_);
  if (!file.ok()) return file.status();
  for (const std::string& name : file->names()) {
    folder->shard_of_.emplace(name, kSingleFile);
    folder->names_in_shard_[kSingleFile].push_back(name);
  }
  folder->open_shards_.emplace(kSingleFile,
                               std::make_unique<SafetensorsFile>(*std::move(file)));
  return folder;
}

absl::Status ModelFolder::ReadIndex() {
  weights_path_ = Join(dir_, kIndex);
  indexed_ = true;
  absl::StatusOr<std::string> text =
      files::ReadRegularFile(weights_path_, "model index", kMaxIndexBytes);
  if (!text.ok()) return text.status();
  json index;
  try {
    index = json::parse(*text);
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: not valid JSON: %s", weights_path_, e.what()));
  }
  const auto map = index.is_object() ? index.find("weight_map") : index.end();
  if (!index.is_object() || map == index.end() || !map->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: no \"weight_map\" object (tensor name -> shard file)",
                        weights_path_));
  }
  for (const auto& [name, shard] : map->items()) {
    if (!shard.is_string() || !IsPlainFileName(shard.get<std::string>())) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: tensor '%s' is mapped to %s, which is not the name of a file in the folder",
          weights_path_, name, shard.dump()));
    }
    shard_of_.emplace(name, shard.get<std::string>());
    names_in_shard_[shard.get<std::string>()].push_back(name);
  }
  return absl::OkStatus();
}

bool ModelFolder::contains(std::string_view name) const {
  return shard_of_.find(name) != shard_of_.end();
}

std::vector<std::string> ModelFolder::NamesWithPrefix(std::string_view prefix) const {
  std::vector<std::string> names;
  for (auto it = shard_of_.lower_bound(prefix);
       it != shard_of_.end() && std::string_view(it->first).substr(0, prefix.size()) == prefix;
       ++it) {
    names.push_back(it->first);
  }
  return names;
}

absl::StatusOr<const SafetensorsFile*> ModelFolder::ShardOf(std::string_view name) {
  const auto it = shard_of_.find(name);
  if (it == shard_of_.end()) {
    return absl::NotFoundError(
        absl::StrFormat("%s: no tensor '%s'", weights_path_, name));
  }
  const auto open = open_shards_.find(it->second);
  if (open != open_shards_.end()) return open->second.get();
  return OpenShard(it->second);
}

absl::StatusOr<const SafetensorsFile*> ModelFolder::OpenShard(const std::string& shard) {
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(Join(dir_, shard));
  if (!file.ok()) return file.status();
  for (const std::string& name : names_in_shard_[shard]) {
    if (!file->contains(name)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: no tensor '%s', which %s puts in this shard", file->path(), name,
          weights_path_));
    }
  }
  for (const std::string& name : file->names()) {
    const auto it = shard_of_.find(name);
    if (it != shard_of_.end() && it->second != shard) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: holds tensor '%s', which %s puts in %s", file->path(), name, weights_path_,
          it->second));
    }
  }
  auto owned = std::make_unique<SafetensorsFile>(*std::move(file));
  const SafetensorsFile* opened = owned.get();
  open_shards_.emplace(shard, std::move(owned));
  return opened;
}

absl::StatusOr<const TensorView*> ModelFolder::Get(std::string_view name) {
  absl::StatusOr<const SafetensorsFile*> shard = ShardOf(name);
  if (!shard.ok()) return shard.status();
  return (*shard)->Get(name);
}

absl::StatusOr<const SafetensorsFile*> ModelFolder::Joined(
    const std::vector<std::string>& names) {
  SafetensorsWriter writer;
  std::set<std::string> paths;
  for (const std::string& name : names) {
    absl::StatusOr<const SafetensorsFile*> shard = ShardOf(name);
    if (!shard.ok()) return shard.status();
    paths.insert((*shard)->path());
    if (absl::Status s = writer.AddCopy(**(*shard)->Get(name)); !s.ok()) return s;
  }
  absl::StatusOr<SafetensorsFile> joined =
      SafetensorsFile::FromBytes(writer.Serialize(), absl::StrJoin(paths, " + "));
  if (!joined.ok()) return joined.status();
  joined_.push_back(std::make_unique<SafetensorsFile>(*std::move(joined)));
  return joined_.back().get();
}

}  // namespace fp4moe::io
