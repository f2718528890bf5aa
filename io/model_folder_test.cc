#include "io/model_folder.h"

#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "io/model_weights.h"
#include "io/safetensors.h"
#include "io/test_files.h"
#include "quant/e4m3.h"
#include "quant/test_matchers.h"

namespace fp4moe::io {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kMixtralConfig[] = R"({"architectures": ["MixtralForCausalLM"],
    "hidden_size": 32, "num_hidden_layers": 1, "num_local_experts": 2,
    "num_experts_per_tok": 1, "intermediate_size": 16})";

std::string MakeFolder(const std::string& name, const std::string& config) {
  const std::string dir = TestPath(name);
  std::filesystem::create_directories(dir);
  WriteFileBytes(dir + "/config.json", config);
  return dir;
}

void WriteTensors(const std::string& path, const std::vector<std::string>& names) {
  SafetensorsWriter writer;
  for (const std::string& name : names) {
    ASSERT_TRUE(writer.AddF32(name, {1, 2}, std::vector<float>{1, 2}).ok());
  }
  ASSERT_TRUE(writer.Write(path).ok());
}

TEST(ModelFolderTest, ShardsAreOpenedOnlyWhenOneOfTheirTensorsIsAskedFor) {
  const std::string dir = MakeFolder("lazy", kMixtralConfig);
  WriteTensors(dir + "/a.safetensors", {"x", "y"});
  WriteFileBytes(dir + "/b.safetensors", "not a safetensors file");
  WriteFileBytes(dir + "/model.safetensors.index.json",
                 R"({"metadata": {}, "weight_map": {"x": "a.safetensors", "y": "a.safetensors",
                     "z": "b.safetensors"}})");
  absl::StatusOr<std::unique_ptr<ModelFolder>> folder = ModelFolder::Open(dir);
  ASSERT_TRUE(folder.ok()) << folder.status();
  EXPECT_EQ((*folder)->shards_opened(), 0);
  EXPECT_TRUE((*folder)->contains("z"));
  EXPECT_FALSE((*folder)->contains("w"));
  ASSERT_TRUE((*folder)->Get("x").ok());
  ASSERT_TRUE((*folder)->Get("y").ok());
  EXPECT_EQ((*folder)->shards_opened(), 1);
  EXPECT_THAT((*folder)->Get("z"), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr(dir + "/b.safetensors")));
  EXPECT_THAT((*folder)->Get("w"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr(dir + "/model.safetensors.index.json: no tensor 'w'")));
}

TEST(ModelFolderTest, ShardsMustAgreeWithTheIndex) {
  const std::string dir = MakeFolder("disagree", kMixtralConfig);
  WriteTensors(dir + "/a.safetensors", {"x", "y"});
  WriteTensors(dir + "/b.safetensors", {"z"});
  WriteFileBytes(dir + "/model.safetensors.index.json",
                 R"({"weight_map": {"x": "a.safetensors", "y": "b.safetensors",
                     "z": "b.safetensors"}})");
  absl::StatusOr<std::unique_ptr<ModelFolder>> folder = ModelFolder::Open(dir);
  ASSERT_TRUE(folder.ok()) << folder.status();
  EXPECT_THAT((*folder)->Get("x"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("a.safetensors: holds tensor 'y', which " + dir +
                                 "/model.safetensors.index.json puts in b.safetensors")));
  EXPECT_THAT((*folder)->Get("z"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("b.safetensors: no tensor 'y', which")));

  WriteFileBytes(dir + "/model.safetensors.index.json", R"({"weight_map": {"x": 3}})");
  EXPECT_THAT(ModelFolder::Open(dir),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tensor 'x' is mapped to 3, which is not the name of a file")));
  WriteFileBytes(dir + "/model.safetensors.index.json", R"({"tensors": {}})");
  EXPECT_THAT(ModelFolder::Open(dir), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr("no \"weight_map\" object")));
}

TEST(ModelFolderTest, OneModelSafetensorsOrNothing) {
  const std::string dir = MakeFolder("single", kMixtralConfig);
  EXPECT_THAT(ModelFolder::Open(dir),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("neither model.safetensors.index.json nor model.safetensors")));
  WriteTensors(dir + "/model.safetensors", {"x"});
  absl::StatusOr<std::unique_ptr<ModelFolder>> folder = ModelFolder::Open(dir);
  ASSERT_TRUE(folder.ok()) << folder.status();
  EXPECT_TRUE((*folder)->Get("x").ok());
  EXPECT_EQ((*folder)->weights_path(), dir + "/model.safetensors");
  EXPECT_THAT(ModelFolder::Open(TestPath("no_such_folder")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a directory")));
  const std::string no_config = TestPath("no_config");
  std::filesystem::create_directories(no_config);
  EXPECT_THAT(ModelFolder::Open(no_config),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no_config/config.json")));
}

// An FP8 weight of [130, 260] in blocks of 128 x 128: scales [2, 3], the last row and column of
// blocks partly outside the weight.
TEST(ModelFolderTest, Fp8WeightsAreCodeTimesTheirBlockScale) {
  const std::string dir = MakeFolder("fp8", kMixtralConfig);
  const int64_t rows = 130, cols = 260;
  std::vector<uint8_t> codes(rows * cols);
  for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<uint8_t>((i * 37) % 126);
  const std::vector<float> scales = {1, 2, 4, 8, 16, 32};
  SafetensorsWriter writer;
  ASSERT_TRUE(writer.Add("w.weight", Dtype::kF8E4M3, {rows, cols}, codes).ok());
  ASSERT_TRUE(writer.AddF32("w.weight_scale_inv", {2, 3}, scales).ok());
  ASSERT_TRUE(writer.AddF32("bad.weight_scale_inv", {2, 2}, {1, 1, 1, 1}).ok());
  ASSERT_TRUE(writer.Add("bad.weight", Dtype::kF8E4M3, {rows, cols}, codes).ok());
  std::vector<uint8_t> nan_codes = codes;
  nan_codes[5 * cols + 7] = kE4M3NaN;
  ASSERT_TRUE(writer.Add("nan.weight", Dtype::kF8E4M3, {rows, cols}, nan_codes).ok());
  ASSERT_TRUE(writer.AddF32("nan.weight_scale_inv", {2, 3}, scales).ok());
  ASSERT_TRUE(writer.Add("lonely.weight", Dtype::kF8E4M3, {rows, cols}, codes).ok());
  ASSERT_TRUE(writer.Write(dir + "/model.safetensors").ok());
  absl::StatusOr<std::unique_ptr<ModelFolder>> folder = ModelFolder::Open(dir);
  ASSERT_TRUE(folder.ok()) << folder.status();

  absl::StatusOr<StoredWeight> w = FindWeight(**folder, "w");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->storage, "F8_E4M3");
  absl::StatusOr<RowMatrixXf> m = ReadFloatWeight(*w, {128, 128});
  ASSERT_TRUE(m.ok()) << m.status();
  for (int64_t i : {0, 127, 128, 129}) {
    for (int64_t j : {0, 127, 128, 255, 256, 259}) {
      EXPECT_EQ((*m)(i, j), DecodeE4M3(codes[i * cols + j]) * scales[(i / 128) * 3 + j / 128])
          << i << ", " << j;
    }
  }
  absl::StatusOr<StoredWeight> bad = FindWeight(**folder, "bad");
  ASSERT_TRUE(bad.ok());
  EXPECT_THAT(ReadFloatWeight(*bad, {128, 128}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("'bad.weight_scale_inv' is F32 [2, 2], expected F32 or "
                                       "BF16 [2, 3]"),
                             HasSubstr("in blocks of 128 x 128"))));
  absl::StatusOr<StoredWeight> nan = FindWeight(**folder, "nan");
  ASSERT_TRUE(nan.ok());
  EXPECT_THAT(ReadFloatWeight(*nan, {128, 128}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'nan.weight' element (5, 7) is an FP8 NaN")));
  EXPECT_THAT(FindWeight(**folder, "lonely"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("FP8 tensor 'lonely.weight' has no 'lonely.weight_scale_inv'")));
  EXPECT_THAT(FindWeight(**folder, "absent"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no tensor 'absent.weight'")));
}

}  // namespace
}  // namespace fp4moe::io
