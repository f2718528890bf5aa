#include "io/moe_checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "io/test_files.h"
#include "moe/moe.h"
#include "quant/bf16.h"
#include "quant/random_matrix.h"
#include "quant/test_matchers.h"

namespace fp4moe::io {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr int64_t kExperts = 4, kHidden = 256, kInter = 128, kTokens = 6;
constexpr int kTopK = 2;
constexpr char kPrefix[] = "model.layers.0.mlp.experts";

std::vector<moe::ExpertFloatWeights> RandomExperts() {
  std::vector<moe::ExpertFloatWeights> experts;
  for (int64_t e = 0; e < kExperts; ++e) {
    experts.push_back({RandomMatrix(kInter, kHidden, 3 * e, Distribution::kGaussian,
                                    1 / std::sqrt(float{kHidden})),
                       RandomMatrix(kInter, kHidden, 3 * e + 1, Distribution::kGaussian,
                                    1 / std::sqrt(float{kHidden})),
                       RandomMatrix(kHidden, kInter, 3 * e + 2, Distribution::kGaussian,
                                    1 / std::sqrt(float{kInter}))});
  }
  return experts;
}

std::string ExpertName(int64_t e, const char* projection) {
  return absl::StrFormat("%s.%d.%s", kPrefix, e, projection);
}

void AddFloat(SafetensorsWriter& writer, const std::string& name, const RowMatrixXf& m) {
  ASSERT_TRUE(writer
                  .AddF32(name + ".weight", {m.rows(), m.cols()},
                          absl::MakeConstSpan(m.data(), m.size()))
                  .ok());
}

struct Inputs {
  RowMatrixXf hidden = RandomMatrix(kTokens, kHidden, 99);
  std::vector<int64_t> ids;
  std::vector<float> weights;

  Inputs() {
    std::mt19937_64 rng(5);
    for (int64_t t = 0; t < kTokens; ++t) {
      const int64_t first = rng() % kExperts;
      ids.push_back(first);
      ids.push_back((first + 1 + rng() % (kExperts - 1)) % kExperts);
      weights.push_back(0.7f);
      weights.push_back(0.3f);
    }
  }

  // BF16 hidden states with I32 ids exercise the other accepted dtypes.
  std::string Write(const std::string& name, bool bf16) const {
    SafetensorsWriter writer;
    if (bf16) {
      std::vector<Bf16> h(hidden.size());
      for (int64_t i = 0; i < hidden.size(); ++i) h[i] = FloatToBf16(hidden.data()[i]);
      EXPECT_TRUE(writer
                      .Add("hidden_states", Dtype::kBf16, {kTokens, kHidden},
                           {reinterpret_cast<const uint8_t*>(h.data()), h.size() * 2})
                      .ok());
      const std::vector<int32_t> ids32(ids.begin(), ids.end());
      EXPECT_TRUE(writer.AddI32("topk_ids", {kTokens, kTopK}, ids32).ok());
    } else {
      EXPECT_TRUE(writer.AddF32("hidden_states", {kTokens, kHidden},
                                absl::MakeConstSpan(hidden.data(), hidden.size()))
                      .ok());
      EXPECT_TRUE(writer
                      .Add("topk_ids", Dtype::kI64, {kTokens, kTopK},
                           {reinterpret_cast<const uint8_t*>(ids.data()), ids.size() * 8})
                      .ok());
    }
    EXPECT_TRUE(writer.AddF32("topk_weights", {kTokens, kTopK}, weights).ok());
    const std::string path = TestPath(name);
    EXPECT_TRUE(writer.Write(path).ok());
    return path;
  }
};

moe::MoeConfig Config(WeightFormat format) {
  moe::MoeConfig c;
  c.expert_num = kExperts;
  c.num_experts_per_tok = kTopK;
  c.hidden_size = kHidden;
  c.intermediate_size = kInter;
  c.max_len = kTokens;
  c.weight_format = format;
  c.group_size = 32;
  c.num_threads = 1;
  return c;
}

// Runs the tool's forward on files and returns `output`.
RowMatrixXf ForwardFromFiles(const ForwardOptions& options) {
  const absl::Status s = RunForward(options);
  EXPECT_TRUE(s.ok()) << s;
  absl::StatusOr<SafetensorsFile> out = SafetensorsFile::Open(options.output);
  if (!out.ok()) return RowMatrixXf();
  return *out->ReadMatrix("output");
}

RowMatrixXf ForwardInMemory(moe::MoeLayer& layer, const Inputs& in, bool bf16) {
  RowMatrixXf out(kTokens, kHidden);
  absl::Status s;
  if (bf16) {
    std::vector<Bf16> h(in.hidden.size());
    for (int64_t i = 0; i < in.hidden.size(); ++i) h[i] = FloatToBf16(in.hidden.data()[i]);
    s = layer.Forward(kTokens, kTopK, in.ids.data(), in.weights.data(), h.data(), out.data());
  } else {
    s = layer.Forward(kTokens, kTopK, in.ids.data(), in.weights.data(), in.hidden.data(),
                      out.data());
  }
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

ForwardOptions Options(const std::string& weights, const std::string& input) {
  ForwardOptions o;
  o.weights = weights;
  o.prefix = kPrefix;
  o.input = input;
  o.output = TestPath("output.safetensors");
  return o;
}

TEST(MoeCheckpointTest, QuantizedExpertsFromFilesMatchMemory) {
  const std::vector<moe::ExpertFloatWeights> experts = RandomExperts();
  const Inputs inputs;
  for (WeightFormat format : {WeightFormat::kNvfp4, WeightFormat::kMxfp4, WeightFormat::kInt4K2}) {
    SCOPED_TRACE(TraitsOf(format).name);
    const moe::MoeConfig config = Config(format);
    std::vector<moe::ExpertQuantizedWeights> quantized;
    SafetensorsWriter writer;
    for (int64_t e = 0; e < kExperts; ++e) {
      quantized.push_back(*moe::QuantizeExpert(config, e, experts[e]));
      ASSERT_TRUE(AddQuantized(ExpertName(e, "gate_proj"), quantized[e].gate, writer).ok());
      ASSERT_TRUE(AddQuantized(ExpertName(e, "up_proj"), quantized[e].up, writer).ok());
      ASSERT_TRUE(AddQuantized(ExpertName(e, "down_proj"), quantized[e].down, writer).ok());
    }
    const std::string weights = TestPath("quantized_experts.safetensors");
    ASSERT_TRUE(writer.Write(weights).ok());
    const std::unique_ptr<moe::MoeLayer> layer = *moe::MoeLayer::Create(config, quantized);
    for (bool bf16 : {false, true}) {
      const RowMatrixXf from_files =
          ForwardFromFiles(Options(weights, inputs.Write("inputs.safetensors", bf16)));
      const RowMatrixXf from_memory = ForwardInMemory(*layer, inputs, bf16);
      ASSERT_EQ(from_files.size(), from_memory.size());
      EXPECT_EQ(std::memcmp(from_files.data(), from_memory.data(), from_files.size() * 4), 0)
          << "bf16 input: " << bf16;
    }
  }
}

// RandomExperts() as float weights.
std::string WriteRandomExperts(const std::string& name) {
  const std::vector<moe::ExpertFloatWeights> experts = RandomExperts();
  SafetensorsWriter writer;
  for (int64_t e = 0; e < kExperts; ++e) {
    AddFloat(writer, ExpertName(e, "gate_proj"), experts[e].gate);
    AddFloat(writer, ExpertName(e, "up_proj"), experts[e].up);
    AddFloat(writer, ExpertName(e, "down_proj"), experts[e].down);
  }
  const std::string path = TestPath(name);
  EXPECT_TRUE(writer.Write(path).ok());
  return path;
}

TEST(MoeCheckpointTest, FloatExpertsAreQuantizedToTheRequestedFormat) {
  const std::vector<moe::ExpertFloatWeights> experts = RandomExperts();
  const std::string weights = WriteRandomExperts("float_experts.safetensors");
  const Inputs inputs;
  ForwardOptions options = Options(weights, inputs.Write("inputs_f.safetensors", false));
  options.format = WeightFormat::kInt4K2;
  const RowMatrixXf from_files = ForwardFromFiles(options);
  const std::unique_ptr<moe::MoeLayer> layer =
      *moe::MoeLayer::Create(Config(WeightFormat::kInt4K2), experts);
  const RowMatrixXf from_memory = ForwardInMemory(*layer, inputs, false);
  ASSERT_EQ(from_files.size(), from_memory.size());
  EXPECT_EQ(std::memcmp(from_files.data(), from_memory.data(), from_files.size() * 4), 0);
}

// Float experts 0..count-1, with `edit` applied to the writer's inputs first.
std::string WriteExperts(const std::string& name, int64_t count,
                         const std::function<void(int64_t, const char*, RowMatrixXf&)>& edit,
                         const std::vector<int64_t>& skipped = {}) {
  SafetensorsWriter writer;
  for (int64_t e = 0; e < count; ++e) {
    if (std::find(skipped.begin(), skipped.end(), e) != skipped.end()) continue;
    for (const char* projection : {"gate_proj", "up_proj", "down_proj"}) {
      RowMatrixXf m = std::string(projection) == "down_proj" ? RowMatrixXf::Ones(64, 32)
                                                              : RowMatrixXf::Ones(32, 64);
      edit(e, projection, m);
      AddFloat(writer, ExpertName(e, projection), m);
    }
  }
  const std::string path = TestPath(name);
  EXPECT_TRUE(writer.Write(path).ok());
  return path;
}

absl::StatusOr<LoadedExperts> Load(const std::string& path) {
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(path);
  if (!file.ok()) return file.status();
  return LoadExperts(*file, kPrefix);
}

TEST(MoeCheckpointTest, LoadExpertsCountsAndChecksShapes) {
  const auto unchanged = [](int64_t, const char*, RowMatrixXf&) {};
  absl::StatusOr<LoadedExperts> good = Load(WriteExperts("good.safetensors", 3, unchanged));
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->count(), 3);
  EXPECT_EQ(good->hidden_size, 64);
  EXPECT_EQ(good->intermediate_size, 32);
  EXPECT_EQ(good->format, std::nullopt);

  const auto wider_up = [](int64_t e, const char* p, RowMatrixXf& m) {
    if (e == 2 && std::string(p) == "up_proj") m = RowMatrixXf::Ones(32, 80);
  };
  EXPECT_THAT(Load(WriteExperts("mismatch.safetensors", 3, wider_up)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expert 2 up_proj is [32, 80], expected [32, 64]")));
  const auto short_down = [](int64_t e, const char* p, RowMatrixXf& m) {
    if (e == 1 && std::string(p) == "down_proj") m = RowMatrixXf::Ones(64, 16);
  };
  EXPECT_THAT(Load(WriteExperts("mismatch_down.safetensors", 3, short_down)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expert 1 down_proj is [64, 16], expected [64, 32]")));
  EXPECT_THAT(Load(WriteExperts("gap.safetensors", 4, unchanged, {2})),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("expert 2 of")));
  EXPECT_THAT(Load(WriteExperts("none.safetensors", 0, unchanged)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no experts")));
  {
    // An expert index of 2^63 - 1 beside experts 0..2: a missing expert, not an overflow.
    SafetensorsWriter huge;
    const absl::StatusOr<SafetensorsFile> good_file =
        SafetensorsFile::Open(TestPath("good.safetensors"));
    ASSERT_TRUE(good_file.ok());
    for (const std::string& name : good_file->names()) {
      ASSERT_TRUE(huge.AddCopy(**good_file->Get(name)).ok());
    }
    const std::vector<float> one(64, 1.0f);
    ASSERT_TRUE(huge.AddF32(ExpertName(INT64_MAX, "gate_proj") + ".weight", {1, 64}, one).ok());
    ASSERT_TRUE(huge.Write(TestPath("huge_index.safetensors")).ok());
    EXPECT_THAT(Load(TestPath("huge_index.safetensors")),
                StatusIs(absl::StatusCode::kNotFound,
                         HasSubstr("expert 3 of 'model.layers.0.mlp.experts' is missing (experts "
                                   "up to 9223372036854775807 are present)")));
  }

  // Expert 1's up_proj quantized while the rest are float.
  SafetensorsWriter mixed;
  const absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(TestPath("good.safetensors"));
  for (const std::string& name : file->names()) {
    if (name == ExpertName(1, "up_proj") + ".weight") {
      ASSERT_TRUE(AddQuantized(ExpertName(1, "up_proj"),
                               *QuantizeWeight("w", *file->ReadMatrix(name),
                                               WeightFormat::kNvfp4, 32),
                               mixed)
                      .ok());
    } else {
      ASSERT_TRUE(mixed.AddCopy(**file->Get(name)).ok());
    }
  }
  ASSERT_TRUE(mixed.Write(TestPath("mixed.safetensors")).ok());
  EXPECT_THAT(Load(TestPath("mixed.safetensors")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expert 1 up_proj is stored as nvfp4, but expert 0 gate_proj "
                                 "as float")));
}

TEST(MoeCheckpointTest, ForwardRejectsInputsThatDoNotFit) {
  const auto unchanged = [](int64_t, const char*, RowMatrixXf&) {};
  const std::string weights = WriteExperts("small.safetensors", 3, unchanged);
  const Inputs inputs;  // H = 256, the experts' H is 64
  const ForwardOptions options = Options(weights, inputs.Write("inputs_h.safetensors", false));
  EXPECT_THAT(RunForward(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("'hidden_states'"), HasSubstr("[T, 64]"))));

  const std::vector<moe::ExpertFloatWeights> experts = RandomExperts();
  SafetensorsWriter writer;
  for (int64_t e = 0; e < kExperts; ++e) {
    for (const auto& [projection, m] : {std::pair{"gate_proj", &experts[e].gate},
                                        std::pair{"up_proj", &experts[e].up},
                                        std::pair{"down_proj", &experts[e].down}}) {
      ASSERT_TRUE(AddQuantized(ExpertName(e, projection),
                               *QuantizeWeight("w", *m, WeightFormat::kMxfp4, 32), writer)
                      .ok());
    }
  }
  const std::string mxfp4 = TestPath("mxfp4_experts.safetensors");
  ASSERT_TRUE(writer.Write(mxfp4).ok());
  ForwardOptions wrong_format = Options(mxfp4, inputs.Write("inputs_m.safetensors", false));
  wrong_format.format = WeightFormat::kNvfp4;
  EXPECT_THAT(RunForward(wrong_format),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("stored as mxfp4, but --format asks for nvfp4")));
  ForwardOptions missing_input = Options(mxfp4, TestPath("no_inputs.safetensors"));
  EXPECT_THAT(RunForward(missing_input), StatusIs(absl::StatusCode::kNotFound, HasSubstr("no_inputs")));
}

// Routing that the file gets wrong, and finite inputs whose output overflows float: an error
// naming the tensor, and no output file.
TEST(MoeCheckpointTest, ForwardRefusesBadRoutingAndNonFiniteOutput) {
  const std::string weights = WriteRandomExperts("float_experts_2.safetensors");
  ForwardOptions options = Options(weights, "");
  options.output = TestPath("never_written.safetensors");

  Inputs overflowing;  // each expert's output times 3e38 overflows where it exceeds 1.2
  overflowing.weights.assign(overflowing.weights.size(), 3e38f);
  options.input = overflowing.Write("inputs_overflowing.safetensors", false);
  EXPECT_THAT(RunForward(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("never_written.safetensors: tensor 'output' [token "),
                             HasSubstr("is not finite although every input is"),
                             HasSubstr("with weight 3e+38"))));
  EXPECT_NE(::access(options.output.c_str(), F_OK), 0);

  Inputs infinite;
  infinite.weights[3] = std::numeric_limits<float>::infinity();
  options.input = infinite.Write("inputs_infinite.safetensors", false);
  EXPECT_THAT(RunForward(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("inputs_infinite.safetensors: tensor 'topk_weights' [token 1, "
                                 "slot 1] = inf is not finite")));

  // k = 5 of 4 experts.
  const Inputs inputs;
  SafetensorsWriter too_many;
  ASSERT_TRUE(too_many.AddF32("hidden_states", {kTokens, kHidden},
                              absl::MakeConstSpan(inputs.hidden.data(), inputs.hidden.size()))
                  .ok());
  ASSERT_TRUE(too_many.AddI32("topk_ids", {kTokens, 5}, std::vector<int32_t>(kTokens * 5)).ok());
  ASSERT_TRUE(
      too_many.AddF32("topk_weights", {kTokens, 5}, std::vector<float>(kTokens * 5, 0.2f)).ok());
  options.input = TestPath("inputs_k5.safetensors");
  ASSERT_TRUE(too_many.Write(options.input).ok());
  EXPECT_THAT(RunForward(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'topk_ids' routes each token to k = 5 experts, more than "
                                 "the 4")));
  EXPECT_NE(::access(options.output.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace fp4moe::io
