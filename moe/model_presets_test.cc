#include "moe/model_presets.h"

#include "gtest/gtest.h"
#include "moe/moe_config.h"
#include "quant/format.h"

namespace fp4moe::moe {
namespace {

// Every preset is a layer the operator takes in every weight format, and is found by its name.
TEST(ModelPresetsTest, EveryPresetIsAValidLayerInEveryFormat) {
  for (const ModelPreset& preset : kModelPresets) {
    SCOPED_TRACE(preset.name);
    EXPECT_EQ(FindModelPreset(preset.name), &preset);
    for (WeightFormat format : {WeightFormat::kNvfp4, WeightFormat::kMxfp4,
                                WeightFormat::kFp4FloatScale, WeightFormat::kInt4K2}) {
      MoeConfig config;
      config.expert_num = preset.experts;
      config.num_experts_per_tok = preset.top_k;
      config.hidden_size = preset.hidden;
      config.intermediate_size = preset.intermediate;
      config.max_len = 1;
      config.weight_format = format;
      config.activation = preset.activation;
      config.swiglu_limit = preset.swiglu_limit;
      EXPECT_TRUE(config.Validate().ok()) << config.Validate();
    }
  }
  EXPECT_EQ(FindModelPreset("llama"), nullptr);
  const ExpertBiases biases = RandomExpertBiases(64, 48, 7);
  EXPECT_EQ(biases.gate.size(), 48u);
  EXPECT_EQ(biases.up.size(), 48u);
  EXPECT_EQ(biases.down.size(), 64u);
  EXPECT_NE(biases.gate, biases.up);
  EXPECT_EQ(ModelPresetNames(), "deepseek_v3, qwen3_30b_a3b, mixtral, gpt_oss_120b");
}

}  // namespace
}  // namespace fp4moe::moe
