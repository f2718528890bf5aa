#ifndef FP4MOE_IO_MODEL_FOLDER_H_
#define FP4MOE_IO_MODEL_FOLDER_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/model_config.h"
#include "io/safetensors.h"

namespace fp4moe::io {

// A Hugging Face model folder: config.json and the weights, either
// model.safetensors.index.json, whose "weight_map" names the shard (a file of the folder) of
// every tensor, or one model.safetensors. Shards are memory-mapped when a tensor in them is
// first asked for, and checked against the index then: a tensor the index puts in a shard
// must be there, and a tensor of the shard must not be put in another one by the index.
class ModelFolder {
 public:
  // Reads config.json and the index (or opens model.safetensors); errors name the file.
  static absl::StatusOr<std::unique_ptr<ModelFolder>> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const ModelConfig& config() const { return config_; }
  // What the weights were read from: the index, or model.safetensors.
  const std::string& weights_path() const { return weights_path_; }

  bool contains(std::string_view name) const;
  // The names that start with `prefix`, in sorted order.
  std::vector<std::string> NamesWithPrefix(std::string_view prefix) const;
  // The shard holding `name`, opened and checked on first use. NotFound naming the index where
  // no shard holds it.
  absl::StatusOr<const SafetensorsFile*> ShardOf(std::string_view name);
  absl::StatusOr<const TensorView*> Get(std::string_view name);
  // The tensors `names`, each from its shard, copied into one file in memory that the folder
  // keeps (its path names the shards): a quantized weight whose tensors the index splits
  // between shards is read from it as from one shard.
  absl::StatusOr<const SafetensorsFile*> Joined(const std::vector<std::string>& names);
  // Whether the weights come from model.safetensors.index.json (else one model.safetensors).
  bool indexed() const { return indexed_; }
  // Each shard's file name and the tensors the index puts in it, by file name.
  const std::map<std::string, std::vector<std::string>>& names_by_shard() const {
    return names_in_shard_;
  }
  // How many shards have been opened so far.
  int shards_opened() const { return static_cast<int>(open_shards_.size()); }

 private:
  ModelFolder() = default;
  absl::Status ReadIndex();
  // Opens `shard` and checks it against the index.
  absl::StatusOr<const SafetensorsFile*> OpenShard(const std::string& shard);

  std::string dir_;
  std::string weights_path_;
  bool indexed_ = false;
  ModelConfig config_;
  std::map<std::string, std::string, std::less<>> shard_of_;  // tensor -> shard file name
  std::map<std::string, std::vector<std::string>> names_in_shard_;
  std::map<std::string, std::unique_ptr<SafetensorsFile>> open_shards_;
  std::vector<std::unique_ptr<SafetensorsFile>> joined_;
};

}  // namespace fp4moe::io

#endif  // FP4MOE_IO_MODEL_FOLDER_H_
