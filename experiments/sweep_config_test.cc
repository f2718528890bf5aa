#include "experiments/sweep_config.h"

#include <fstream>
#include <sstream>
#include <string>

#include "experiments/quick_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fp4moe::experiments {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The error of a config expected to be rejected.
std::string ErrorOf(const std::string& text) {
  absl::StatusOr<SweepConfig> config = ParseSweepConfig(text, "bad.textproto");
  EXPECT_FALSE(config.ok()) << text;
  return config.ok() ? "" : std::string(config.status().message());
}

constexpr char kTinyModel[] =
    "model { name: \"m\" hidden: 256 intermediate: 128 experts: 4 top_k: 2 }\n";

TEST(SweepConfigTest, EveryReadyConfigParses) {
  for (const char* name : {"quick", "deepseek_v3", "qwen3_moe", "mixtral", "gpt_oss",
                           "format_accuracy", "decode_vs_prefill"}) {
    const std::string path = std::string("experiments/configs/") + name + ".textproto";
    absl::StatusOr<SweepConfig> config = LoadSweepConfig(path);
    ASSERT_TRUE(config.ok()) << path << ": " << config.status();
    EXPECT_EQ(config->name, name);
  }
}

TEST(SweepConfigTest, EmbeddedDefaultIsQuickTextproto) {
  EXPECT_EQ(std::string(kQuickSweepConfig),
            ReadFile("experiments/configs/quick.textproto"));
}

TEST(SweepConfigTest, QuickDefaultShowsEveryFormatAndBothMeasures) {
  absl::StatusOr<SweepConfig> config = ParseSweepConfig(kQuickSweepConfig, "quick");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->formats.size(), 4u);
  EXPECT_EQ(config->formats[0].format, WeightFormat::kNvfp4);
  EXPECT_EQ(config->formats[0].paths.size(), 3u);  // every E2M1 path
  EXPECT_EQ(config->formats[3].format, WeightFormat::kInt4K2);
  EXPECT_EQ(config->formats[3].group_sizes, std::vector<int64_t>{32});
  EXPECT_EQ(config->measures, (std::vector<Measure>{Measure::kGemm, Measure::kMoe}));
  EXPECT_EQ(config->models[0].hidden, 2048);
  EXPECT_FALSE(config->models[0].Takes(Measure::kMoe));
}

TEST(SweepConfigTest, PresetsAndOverrides) {
  absl::StatusOr<SweepConfig> config = ParseSweepConfig(
      "model { preset: \"deepseek_v3\" }\n"
      "model { preset: \"qwen3_30b_a3b\" experts: 16 }\n"
      "model { preset: \"gpt_oss_120b\" experts: 8 }\n"
      "format { name: \"nvfp4\" path: \"auto\" }\nqlen: 1\n",
      "good.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->models[0].name, "deepseek_v3");
  EXPECT_EQ(config->models[0].hidden, 7168);
  EXPECT_EQ(config->models[0].top_k, 8);
  EXPECT_EQ(config->models[0].activation, moe::ExpertActivation::kSiluMul);
  EXPECT_EQ(config->models[1].experts, 16);
  EXPECT_EQ(config->models[1].intermediate, 768);
  // gpt-oss's experts take its clamped SwiGLU.
  EXPECT_EQ(config->models[2].hidden, 2880);
  EXPECT_EQ(config->models[2].top_k, 4);
  EXPECT_EQ(config->models[2].activation, moe::ExpertActivation::kClampedSwiglu);
  EXPECT_EQ(config->models[2].swiglu_limit, 7.0f);
  EXPECT_TRUE(config->models[2].biases);
  EXPECT_FALSE(config->models[0].biases);
  EXPECT_FALSE(config->formats[0].paths[0].has_value());  // auto
  EXPECT_EQ(config->distributions[0].name, "gaussian");
  EXPECT_EQ(config->threads, std::vector<int>{0});
}

// The parser places an unknown field just after its name.
TEST(SweepConfigTest, UnknownFieldReportsLineAndColumn) {
  EXPECT_THAT(ErrorOf(std::string(kTinyModel) + "qlen: 1\n  colour: 3\n"),
              AllOf(HasSubstr("bad.textproto:3:9"), HasSubstr("no field named \"colour\"")));
}

TEST(SweepConfigTest, BadValueReportsLineAndColumn) {
  EXPECT_THAT(ErrorOf(std::string(kTinyModel) + "format { name: \"nvfp4\" }\nrepetitions: many\n"),
              HasSubstr("bad.textproto:3:14"));
}

TEST(SweepConfigTest, UnknownNamesArePlaced) {
  EXPECT_THAT(ErrorOf("model { preset: \"llama\" }\nformat { name: \"nvfp4\" }\nqlen: 1\n"),
              AllOf(HasSubstr("bad.textproto:1:9"), HasSubstr("unknown preset \"llama\"")));
  EXPECT_THAT(ErrorOf(std::string(kTinyModel) + "format { name: \"nvfp5\" }\nqlen: 1\n"),
              AllOf(HasSubstr("bad.textproto:2:10"), HasSubstr("nvfp5")));
  EXPECT_THAT(ErrorOf(std::string(kTinyModel) +
                      "format { name: \"nvfp4\" }\nqlen: 1\ndistribution: \"uniform\"\n"),
              AllOf(HasSubstr("bad.textproto:4:1"), HasSubstr("unknown distribution")));
}

TEST(SweepConfigTest, GroupSizeNotDividingIsAnError) {
  EXPECT_THAT(ErrorOf(std::string(kTinyModel) +
                      "format { name: \"int4_k2\" group_size: 32 group_size: 48 }\nqlen: 1\n"),
              AllOf(HasSubstr("bad.textproto:2:41"), HasSubstr("does not divide")));
}

TEST(SweepConfigTest, SemanticErrors) {
  EXPECT_THAT(ErrorOf(std::string(kTinyModel) + "format { name: \"nvfp4\" group_size: 32 }\nqlen: 1\n"),
              HasSubstr("group_size applies to int4_k2 only"));
  EXPECT_THAT(ErrorOf(std::string(kTinyModel) + "format { name: \"int4_k2\" path: \"w4a16\" }\nqlen: 1\n"),
              HasSubstr("does not take int4_k2"));
  EXPECT_THAT(ErrorOf(std::string(kTinyModel) + "format { name: \"nvfp4\" }\n"),
              HasSubstr("give at least one qlen"));
  EXPECT_THAT(ErrorOf(std::string(kTinyModel) +
                      "format { name: \"nvfp4\" }\nqlen: 1\nthreads: 100000\n"),
              AllOf(HasSubstr("bad.textproto:4:1"), HasSubstr("threads must be 0 (all) or in")));
  EXPECT_THAT(ErrorOf("model { hidden: 256 }\nformat { name: \"nvfp4\" }\nqlen: 1\n"),
              HasSubstr("needs hidden, intermediate, experts and top_k"));
  // The MoE down projection of each TP part has K = intermediate / tp_parts = 32: not a
  // multiple of INT4 K2's group of 64.
  EXPECT_THAT(ErrorOf(std::string(kTinyModel) +
                      "format { name: \"int4_k2\" group_size: 64 }\nqlen: 1\nmeasure: \"moe\"\n"
                      "tp_parts: 4\n"),
              HasSubstr("intermediate / tp_parts 4"));
}

TEST(SweepConfigTest, ConfigHashIdentifiesWhatIsMeasured) {
  const std::string tiny = ReadFile("experiments/testdata/tiny.textproto");
  auto hash = [](const std::string& text) {
    absl::StatusOr<SweepConfig> config = ParseSweepConfig(text, "tiny.textproto");
    EXPECT_TRUE(config.ok()) << config.status();
    return config.ok() ? ConfigHash(*config) : "";
  };
  const std::string base = hash(tiny);
  EXPECT_THAT(base, ::testing::MatchesRegex("[0-9a-f]{16}"));
  EXPECT_EQ(hash(tiny), base);  // the same in every run
  // Where the files go is not what is measured.
  EXPECT_EQ(hash(tiny + "output { csv: \"elsewhere.csv\" plot_dir: \"p\" }\n"), base);
  EXPECT_NE(hash(tiny + "qlen: 7\n"), base);
  EXPECT_NE(hash(tiny + "speed: false\n"), base);
  // The ISA in force counts, whether the config or --isa (SweepConfig::isa) sets it.
  absl::StatusOr<SweepConfig> forced = ParseSweepConfig(tiny, "tiny.textproto");
  ASSERT_TRUE(forced.ok());
  forced->isa = kernels::Isa::kAvx2;
  EXPECT_NE(ConfigHash(*forced), base);
  EXPECT_EQ(ConfigHash(*forced), hash(tiny + "isa: \"avx2\"\n"));
}

}  // namespace
}  // namespace fp4moe::experiments
