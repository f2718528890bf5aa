#include "moe/moe_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/microkernel_table.h"
#include "quant/test_matchers.h"

namespace fp4moe::moe {
namespace {

using ::testing::HasSubstr;
using kernels::GemmPath;

MoeConfig SmallConfig() {
  MoeConfig c;
  c.expert_num = 8;
  c.num_experts_per_tok = 2;
  c.hidden_size = 256;
  c.intermediate_size = 128;
  c.max_len = 64;
  c.weight_format = WeightFormat::kNvfp4;
  return c;
}

TEST(MoeConfigTest, SmallConfigIsValid) { EXPECT_TRUE(SmallConfig().Validate().ok()); }

TEST(MoeConfigTest, EachBadFieldIsNamed) {
  const struct {
    void (*mutate)(MoeConfig&);
    const char* message;
  } cases[] = {
      {[](MoeConfig& c) { c.expert_num = 0; }, "MoeConfig.expert_num"},
      {[](MoeConfig& c) { c.num_experts_per_tok = 9; }, "MoeConfig.num_experts_per_tok"},
      {[](MoeConfig& c) { c.num_experts_per_tok = 0; }, "MoeConfig.num_experts_per_tok"},
      {[](MoeConfig& c) { c.max_len = 0; }, "MoeConfig.max_len"},
      {[](MoeConfig& c) { c.num_threads = 0; }, "MoeConfig.num_threads"},
      {[](MoeConfig& c) { c.tp_parts = 0; }, "MoeConfig.tp_parts"},
      {[](MoeConfig& c) { c.prefill_slice_columns = 0; }, "MoeConfig.prefill_slice_columns"},
      {[](MoeConfig& c) { c.prefill_slice_columns = 100; }, "MoeConfig.prefill_slice_columns"},
      {[](MoeConfig& c) { c.prefill_slice_columns = int64_t{1} << 40; },
       "MoeConfig.prefill_slice_columns"},
      {[](MoeConfig& c) { c.hidden_size = 250; }, "MoeConfig.hidden_size"},
      {[](MoeConfig& c) { c.intermediate_size = 0; }, "MoeConfig.intermediate_size"},
      {[](MoeConfig& c) {
         c.activation = ExpertActivation::kClampedSwiglu;
         c.swiglu_limit = 0;
       },
       "MoeConfig.swiglu_limit"},
      // 128 / 16 parts = 8 columns per part: not a whole NVFP4 block.
      {[](MoeConfig& c) { c.tp_parts = 16; }, "MoeConfig.intermediate_size"},
      {[](MoeConfig& c) { c.tp_parts = 3; }, "MoeConfig.intermediate_size"},
      {[](MoeConfig& c) {
         c.weight_format = WeightFormat::kInt4K2;
         c.group_size = 0;
       },
       "MoeConfig.group_size"},
      {[](MoeConfig& c) {
         c.weight_format = WeightFormat::kInt4K2;
         c.group_size = 128;
         c.tp_parts = 2;  // 64 columns per part
       },
       "MoeConfig.intermediate_size"},
      {[](MoeConfig& c) { c.path = GemmPath::kInt4W4A8; }, "MoeConfig.path"},
      {[](MoeConfig& c) { c.num_threads = 100000; }, "MoeConfig.num_threads"},
      {[](MoeConfig& c) { c.max_len = int64_t{1} << 62; }, "MoeConfig.max_len"},
      {[](MoeConfig& c) {
         c.weight_format = WeightFormat::kInt4K2;
         c.path = GemmPath::kFp4W4A16;
       },
       "MoeConfig.path"},
  };
  for (const auto& test : cases) {
    MoeConfig c = SmallConfig();
    test.mutate(c);
    EXPECT_THAT(c.Validate(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(test.message)));
  }
}

TEST(MoeConfigTest, Mxfp4NeedsBlocksOf32PerPart) {
  MoeConfig c = SmallConfig();
  c.weight_format = WeightFormat::kMxfp4;
  c.intermediate_size = 64;
  c.tp_parts = 4;  // 16 columns per part
  EXPECT_THAT(c.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("intermediate_size")));
  c.tp_parts = 2;
  EXPECT_TRUE(c.Validate().ok());
}

TEST(ResolvePathTest, ForcedPathWins) {
  MoeConfig c = SmallConfig();
  c.path = GemmPath::kFp4W4A4Lut;
  EXPECT_EQ(*ResolvePath(c), GemmPath::kFp4W4A4Lut);
  EXPECT_EQ(*ResolvePath(c, 1), GemmPath::kFp4W4A4Lut);
  c.path = GemmPath::kFp4W4A16;
  EXPECT_EQ(*ResolvePath(c, 1), GemmPath::kFp4W4A16);
}

TEST(ResolvePathTest, AutoPicksByFormatAndCpu) {
  MoeConfig c = SmallConfig();
  c.weight_format = WeightFormat::kInt4K2;
  absl::StatusOr<const kernels::Microkernel*> int4_bf16 =
      kernels::SelectMicrokernel(GemmPath::kInt4W4A16);
  const bool amx_int4_bf16 = int4_bf16.ok() && (*int4_bf16)->isa == kernels::Isa::kAmx;
  EXPECT_EQ(*ResolvePath(c), amx_int4_bf16 ? GemmPath::kInt4W4A16 : GemmPath::kInt4W4A8);
  EXPECT_EQ(*ResolvePath(c, 1), GemmPath::kInt4W4A8);
  EXPECT_EQ(*ResolvePath(c, kStreamingMaxRows), GemmPath::kInt4W4A8);
  c.weight_format = WeightFormat::kNvfp4;
  absl::StatusOr<const kernels::Microkernel*> bf16 =
      kernels::SelectMicrokernel(GemmPath::kFp4W4A16);
  const bool amx_bf16 = bf16.ok() && (*bf16)->isa == kernels::Isa::kAmx;
  EXPECT_EQ(*ResolvePath(c), amx_bf16 ? GemmPath::kFp4W4A16 : GemmPath::kFp4W4A8);
  EXPECT_EQ(*ResolvePath(c, kStreamingMaxRows + 1),
            amx_bf16 ? GemmPath::kFp4W4A16 : GemmPath::kFp4W4A8);
  // Streaming products of E2M1 weights take W4A8 on any CPU.
  EXPECT_EQ(*ResolvePath(c, 1), GemmPath::kFp4W4A8);
  EXPECT_EQ(*ResolvePath(c, kStreamingMaxRows), GemmPath::kFp4W4A8);
  // Without AMX (an AVX-512 CPU such as Zen 4, or a forced ISA below AMX), VNNI beats the
  // AVX-512 BF16 kernels: W4A8 for both formats.
  for (const kernels::Isa isa :
       {kernels::Isa::kAvx512, kernels::Isa::kAvx2, kernels::Isa::kScalar}) {
    c.isa = isa;
    c.weight_format = WeightFormat::kNvfp4;
    EXPECT_EQ(*ResolvePath(c), GemmPath::kFp4W4A8);
    c.weight_format = WeightFormat::kInt4K2;
    EXPECT_EQ(*ResolvePath(c), GemmPath::kInt4W4A8);
  }
}

}  // namespace
}  // namespace fp4moe::moe
