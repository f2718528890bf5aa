#include "io/model_config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "quant/test_matchers.h"

namespace fp4moe::io {
namespace {

using ::testing::HasSubstr;

constexpr char kDeepseekV3[] = R"({
  "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
  "hidden_size": 7168, "num_hidden_layers": 61, "n_routed_experts": 256,
  "num_experts_per_tok": 8, "moe_intermediate_size": 2048, "intermediate_size": 18432,
  "first_k_dense_replace": 3, "moe_layer_freq": 1, "n_shared_experts": 1, "n_group": 8,
  "topk_group": 4, "norm_topk_prob": true, "routed_scaling_factor": 2.5,
  "scoring_func": "sigmoid", "topk_method": "noaux_tc",
  "quantization_config": {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]}
})";

absl::StatusOr<ModelConfig> Parse(const std::string& text) {
  return ParseModelConfig(text, "m/config.json");
}

// kDeepseekV3 with `from` replaced by `to`.
std::string Edited(const std::string& from, const std::string& to) {
  std::string text = kDeepseekV3;
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(ModelConfigTest, DeepseekV3ShapesRouterAndNames) {
  absl::StatusOr<ModelConfig> c = Parse(kDeepseekV3);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->family, ModelFamily::kDeepseekV3);
  EXPECT_EQ(c->num_experts, 256);
  EXPECT_EQ(c->intermediate_size, 2048);
  EXPECT_EQ(c->top_k, 8);
  EXPECT_EQ(c->shared_experts, 1);
  const moe::RouterConfig r = c->Router();
  EXPECT_EQ(r.scoring, moe::RouterScoring::kSigmoidGrouped);
  EXPECT_EQ(r.groups, 8);
  EXPECT_EQ(r.chosen_groups, 4);
  EXPECT_FLOAT_EQ(r.scaling, 2.5f);
  EXPECT_TRUE(r.norm_topk_prob);
  EXPECT_EQ(c->ExpertName(3, 17, kUpProj), "model.layers.3.mlp.experts.17.up_proj");
  EXPECT_EQ(c->SharedExpertName(3, kDownProj), "model.layers.3.mlp.shared_experts.down_proj");
  EXPECT_EQ(c->RouterName(3), "model.layers.3.mlp.gate");
  EXPECT_TRUE(c->CheckMoeLayer(3).ok());
  EXPECT_THAT(c->CheckMoeLayer(2),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("m/config.json: layer 2 is a dense MLP layer without routed "
                                 "experts (first_k_dense_replace = 3: layers 0 to 2 are dense)")));
  EXPECT_THAT(c->CheckMoeLayer(61),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layer 61 is outside the model's layers 0 to 60")));
  EXPECT_THAT(c->CheckMoeLayer(-1), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("layer -1 is outside")));
}

TEST(ModelConfigTest, KimiK2IsDeepseekV3WithItsOwnModelType) {
  absl::StatusOr<ModelConfig> c =
      Parse(Edited(R"("model_type": "deepseek_v3")", R"("model_type": "kimi_k2")"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->family, ModelFamily::kDeepseekV3);
  EXPECT_EQ(c->model_type, "kimi_k2");
}

TEST(ModelConfigTest, Qwen3MoeSparseLayersAndNames) {
  absl::StatusOr<ModelConfig> c = Parse(R"({"architectures": ["Qwen3MoeForCausalLM"],
      "hidden_size": 2048, "num_hidden_layers": 48, "num_experts": 128,
      "num_experts_per_tok": 8, "moe_intermediate_size": 768, "norm_topk_prob": true,
      "decoder_sparse_step": 2, "mlp_only_layers": [5]})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Router().scoring, moe::RouterScoring::kSoftmaxTopK);
  EXPECT_TRUE(c->Router().norm_topk_prob);
  EXPECT_EQ(c->ExpertName(1, 2, kGateProj), "model.layers.1.mlp.experts.2.gate_proj");
  EXPECT_TRUE(c->CheckMoeLayer(1).ok());
  EXPECT_THAT(c->CheckMoeLayer(2), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("decoder_sparse_step = 2")));
  EXPECT_THAT(c->CheckMoeLayer(5), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("listed in mlp_only_layers [5]")));
}

TEST(ModelConfigTest, MixtralNamesW1W3W2) {
  absl::StatusOr<ModelConfig> c = Parse(R"({"architectures": ["MixtralForCausalLM"],
      "hidden_size": 4096, "num_hidden_layers": 32, "num_local_experts": 8,
      "num_experts_per_tok": 2, "intermediate_size": 14336})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Router().scoring, moe::RouterScoring::kTopKSoftmax);
  EXPECT_EQ(c->intermediate_size, 14336);
  EXPECT_EQ(c->ExpertName(0, 7, kGateProj), "model.layers.0.block_sparse_moe.experts.7.w1");
  EXPECT_EQ(c->ExpertName(0, 7, kUpProj), "model.layers.0.block_sparse_moe.experts.7.w3");
  EXPECT_EQ(c->ExpertName(0, 7, kDownProj), "model.layers.0.block_sparse_moe.experts.7.w2");
  EXPECT_EQ(c->RouterName(4), "model.layers.4.block_sparse_moe.gate");
  EXPECT_TRUE(c->CheckMoeLayer(0).ok());
}

TEST(ModelConfigTest, GptOssFusesItsExpertsAndRoutesWithABias) {
  const std::string text = R"({"architectures": ["GptOssForCausalLM"], "hidden_size": 2880,
      "num_hidden_layers": 24, "num_local_experts": 32, "experts_per_token": 4,
      "intermediate_size": 2880, "swiglu_limit": 6.5})";
  absl::StatusOr<ModelConfig> c = Parse(text);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->family, ModelFamily::kGptOss);
  EXPECT_EQ(c->Router().scoring, moe::RouterScoring::kBiasedTopKSoftmax);
  EXPECT_EQ(c->top_k, 4);
  EXPECT_EQ(c->num_experts, 32);
  EXPECT_EQ(c->swiglu_limit, 6.5);
  EXPECT_EQ(c->FusedExpertsName(3), "model.layers.3.mlp.experts");
  EXPECT_EQ(c->RouterName(3), "model.layers.3.mlp.router");
  EXPECT_TRUE(c->CheckMoeLayer(23).ok());
  // num_experts_per_tok wins where both are given; swiglu_limit defaults to 7.
  c = Parse(R"({"architectures": ["GptOssForCausalLM"], "hidden_size": 64,
      "num_hidden_layers": 1, "num_local_experts": 4, "experts_per_token": 4,
      "num_experts_per_tok": 2, "intermediate_size": 32})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->top_k, 2);
  EXPECT_EQ(c->swiglu_limit, 7.0);
  EXPECT_THAT(Parse(R"({"architectures": ["GptOssForCausalLM"], "hidden_size": 64,
      "num_hidden_layers": 1, "num_local_experts": 4, "num_experts_per_tok": 2,
      "intermediate_size": 32, "swiglu_limit": -1})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field \"swiglu_limit\" must be a positive number")));
}

TEST(ModelConfigTest, ErrorsNameTheFileAndTheField) {
  EXPECT_THAT(Parse(Edited(R"("n_group": 8,)", "")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("m/config.json: field \"n_group\" is missing")));
  EXPECT_THAT(Parse(Edited(R"("n_routed_experts": 256)", R"("n_routed_experts": "many")")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field \"n_routed_experts\" must be an integer of at least 1, "
                                 "got \"many\"")));
  EXPECT_THAT(Parse(Edited(R"("num_experts_per_tok": 8)", R"("num_experts_per_tok": 300)")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is 300, more than the 256 routed experts")));
  EXPECT_THAT(Parse(Edited(R"("n_group": 8)", R"("n_group": 3)")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("256 experts do not split into 3 groups")));
  EXPECT_THAT(Parse(Edited(R"("scoring_func": "sigmoid")", R"("scoring_func": "softmax")")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"scoring_func\" is \"softmax\"; only \"sigmoid\"")));
  EXPECT_THAT(Parse(Edited("[128, 128]", "[128]")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("weight_block_size")));
  EXPECT_THAT(Parse(Edited("DeepseekV3ForCausalLM", "GptOssForCausalLM")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field \"num_local_experts\" is missing")));
  EXPECT_THAT(Parse(Edited("DeepseekV3ForCausalLM", "LlamaForCausalLM")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("architecture \"LlamaForCausalLM\" is not one fp4moe runs")));
  EXPECT_THAT(Parse("{"), StatusIs(absl::StatusCode::kInvalidArgument,
                                   HasSubstr("m/config.json: not valid JSON")));
}

}  // namespace
}  // namespace fp4moe::io
