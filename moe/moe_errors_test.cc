// The layer's refusals: arguments of Create and Forward that are wrong, named in the error, and
// nothing written or allocated before they are checked.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/microkernel_table.h"
#include "moe/moe.h"
#include "moe/moe_test_helpers.h"
#include "quant/bf16.h"
#include "quant/int4_k2.h"
#include "quant/nvfp4.h"
#include "quant/random_matrix.h"
#include "quant/test_matchers.h"
#include "quant/test_memory_limit.h"

namespace fp4moe::moe {
namespace {

using kernels::GemmPath;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(MoeLayerTest, WorkspaceLargerThanMemoryIsRefusedBeforeAllocating) {
  // Arenas of 2^34 tokens x 3 routed rows: hundreds of terabytes, which no machine has.
  MoeConfig config = SmallConfig(WeightFormat::kNvfp4, GemmPath::kFp4W4A8);
  config.max_len = int64_t{1} << 34;
  EXPECT_THAT(MoeLayer::Create(config, RandomExperts(81)).status(),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("max_len = 17179869184 tokens x num_experts_per_tok = 3"),
                             HasSubstr("lower max_len or num_experts_per_tok"))));
  // Rows x bytes past int64: still the same clear error.
  config.max_len = int64_t{1} << 60;
  EXPECT_THAT(MoeLayer::Create(config, RandomExperts(81)).status(),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("GB")));
}

// Under a process memory limit (ulimit -v) the workspace's allocation fails below the
// machine's memory, which CheckWorkspaceFits compares with: an error, not std::bad_alloc.
TEST(MoeLayerTest, WorkspaceBeyondTheProcessMemoryLimitIsAnError) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "ASan reports a failed allocation instead of throwing std::bad_alloc";
#endif
  const std::vector<ExpertFloatWeights> floats = RandomExperts(81);
  MoeConfig config = SmallConfig(WeightFormat::kNvfp4, GemmPath::kFp4W4A8);
  config.max_len = int64_t{1} << 17;  // 2^17 tokens x 3 routed rows: gigabytes of arenas
  absl::Status status;
  ASSERT_TRUE(RunUnderMemoryLimit(int64_t{256} << 20, [&] {
                status = MoeLayer::Create(config, floats).status();
              }).ok());
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kResourceExhausted,
                               AllOf(HasSubstr("allocating the workspace for max_len = 131072"),
                                     HasSubstr("out of memory"), HasSubstr("ulimit -v"))));
}

// Quantizing float experts runs in an OpenMP loop, out of which a std::bad_alloc cannot
// propagate (it would abort the process): it must come back as an error naming the expert.
// In a process of its own: heap space that other tests freed could hold the codes.
TEST(MoeLayerDeathTest, QuantizingBeyondTheProcessMemoryLimitIsAnError) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "ASan reports a failed allocation instead of throwing std::bad_alloc";
#endif
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        MoeConfig config = SmallConfig(WeightFormat::kNvfp4, GemmPath::kFp4W4A8);
        config.expert_num = 2;
        config.num_experts_per_tok = 1;
        config.hidden_size = config.intermediate_size = 1024;  // 512 kB of codes a projection
        config.num_threads = 1;  // a one-thread team aborts just the same, and starts no thread
        const RowMatrixXf ones = RowMatrixXf::Ones(1024, 1024);
        const std::vector<ExpertFloatWeights> floats(2, ExpertFloatWeights{ones, ones, ones});
        absl::Status status;
        if (!RunUnderMemoryLimit(0, [&] { status = MoeLayer::Create(config, floats).status(); })
                 .ok()) {
          std::exit(2);
        }
        std::fprintf(stderr, "%s\n", status.ToString().c_str());
        std::exit(status.code() == absl::StatusCode::kResourceExhausted ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "MoeLayer::Create: quantizing expert [0-9]+: out of memory");
}

class MoeErrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    floats_ = RandomExperts(71);
    absl::StatusOr<std::unique_ptr<MoeLayer>> layer =
        MoeLayer::Create(SmallConfig(WeightFormat::kNvfp4, GemmPath::kFp4W4A8), floats_);
    ASSERT_TRUE(layer.ok()) << layer.status();
    layer_ = std::move(*layer);
    routing_ = RandomRouting(8, 72);
    x_ = RandomMatrix(8, kHidden, 73);
    out_ = RowMatrixXf::Constant(8, kHidden, 42.0f);
  }
  absl::Status Forward(int64_t qlen, int k) {
    return layer_->Forward(qlen, k, routing_.ids.data(), routing_.weights.data(), x_.data(),
                           out_.data());
  }

  std::vector<ExpertFloatWeights> floats_;
  std::unique_ptr<MoeLayer> layer_;
  Routing routing_;
  RowMatrixXf x_, out_;
};

TEST_F(MoeErrorTest, ExpertIdOutOfRangeNamesTokenAndSlot) {
  routing_.ids[5 * kTopK + 2] = kExperts;
  EXPECT_THAT(Forward(8, kTopK), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("expert_ids[token 5, slot 2] = 8")));
  routing_.ids[5 * kTopK + 2] = -3;
  EXPECT_THAT(Forward(8, kTopK), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("expert_ids[token 5, slot 2] = -3")));
  EXPECT_EQ(out_(0, 0), 42.0f) << "output written before the arguments were checked";
}

TEST_F(MoeErrorTest, BadK) {
  EXPECT_THAT(Forward(1, kExperts + 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exceeds expert_num = 8")));
  EXPECT_THAT(Forward(1, kTopK + 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("exceeds the configured num_experts_per_tok = 3")));
  EXPECT_THAT(Forward(1, 0), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("k = 0")));
}

TEST_F(MoeErrorTest, BadQlen) {
  EXPECT_THAT(Forward(0, kTopK), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("qlen = 0 is outside [1, max_len = 512]")));
  EXPECT_THAT(Forward(kMaxLen + 1, kTopK),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("qlen = 513")));
}

TEST_F(MoeErrorTest, NonFiniteInputOrRoutingWeight) {
  x_(6, 17) = NAN;
  EXPECT_THAT(Forward(8, kTopK), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("input[token 6, column 17]")));
  x_(6, 17) = 0;
  routing_.weights[3 * kTopK + 1] = INFINITY;
  EXPECT_THAT(Forward(8, kTopK), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("routing_weights[token 3, slot 1]")));
  std::vector<uint16_t> bf16(8 * kHidden, FloatToBf16(1.0f));
  bf16[2 * kHidden + 5] = FloatToBf16(-INFINITY);
  routing_.weights[3 * kTopK + 1] = 1;
  EXPECT_THAT(layer_->Forward(8, kTopK, routing_.ids.data(), routing_.weights.data(),
                              bf16.data(), out_.data()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("input[token 2, column 5]")));
}

// A finite float beyond BF16's largest would round to an infinity in the BF16 activations of
// a W4A16 layer: an error naming the place, in prefill (rounded once per token) and decode.
TEST(MoeInputRangeTest, FloatInputBeyondBf16sRangeIsAnErrorOnBf16Paths) {
  absl::StatusOr<std::unique_ptr<MoeLayer>> layer = MoeLayer::Create(
      SmallConfig(WeightFormat::kNvfp4, GemmPath::kFp4W4A16), RandomExperts(91));
  ASSERT_TRUE(layer.ok()) << layer.status();
  for (const int64_t qlen : {int64_t{2}, int64_t{64}}) {
    SCOPED_TRACE(qlen);
    const Routing routing = RandomRouting(qlen, 92);
    RowMatrixXf x = RandomMatrix(qlen, kHidden, 93);
    x(1, 17) = 3.4e38f;  // finite: the argument checks pass it
    RowMatrixXf out(qlen, kHidden);
    EXPECT_THAT((*layer)->Forward(qlen, kTopK, routing.ids.data(), routing.weights.data(),
                                  x.data(), out.data()),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("[1, 17]"), HasSubstr("beyond BF16's range"))));
  }
}

// A gate product that overflows makes the intermediate non-finite: an error naming it and its
// place, on every path, in prefill and decode.
TEST(MoeIntermediateTest, NonFiniteIntermediateIsAnErrorNamingItsColumn) {
  std::vector<ExpertFloatWeights> floats = RandomExperts(95);
  // Column 70 of the intermediate: each product 3e39 overflows.
  for (ExpertFloatWeights& e : floats) e.gate.row(70).setConstant(3e30f);
  for (const auto& [format, path] :
       {std::pair{WeightFormat::kNvfp4, GemmPath::kFp4W4A4Lut},
        std::pair{WeightFormat::kNvfp4, GemmPath::kFp4W4A8},
        std::pair{WeightFormat::kNvfp4, GemmPath::kFp4W4A16},
        std::pair{WeightFormat::kInt4K2, GemmPath::kInt4W4A8},
        std::pair{WeightFormat::kInt4K2, GemmPath::kInt4W4A16}}) {
    SCOPED_TRACE(kernels::PathName(path));
    absl::StatusOr<std::unique_ptr<MoeLayer>> layer =
        MoeLayer::Create(SmallConfig(format, path), floats);
    ASSERT_TRUE(layer.ok()) << layer.status();
    for (const int64_t qlen : {int64_t{2}, int64_t{64}}) {
      SCOPED_TRACE(qlen);
      const Routing routing = RandomRouting(qlen, 96);
      const RowMatrixXf x = RowMatrixXf::Constant(qlen, kHidden, 1e9f);
      RowMatrixXf out(qlen, kHidden);
      EXPECT_THAT((*layer)->Forward(qlen, kTopK, routing.ids.data(), routing.weights.data(),
                                    x.data(), out.data()),
                  StatusIs(absl::StatusCode::kInvalidArgument,
                           AllOf(HasSubstr("moe intermediate: non-finite value"),
                                 HasSubstr("[0, 70]"))));
    }
  }
}

TEST_F(MoeErrorTest, NullPointers) {
  const int64_t* ids = routing_.ids.data();
  const float* w = routing_.weights.data();
  EXPECT_THAT(layer_->Forward(8, kTopK, nullptr, w, x_.data(), out_.data()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expert_ids is null")));
  EXPECT_THAT(layer_->Forward(8, kTopK, ids, nullptr, x_.data(), out_.data()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("routing_weights is null")));
  EXPECT_THAT(layer_->Forward(8, kTopK, ids, w, static_cast<const float*>(nullptr), out_.data()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("input is null")));
  EXPECT_THAT(layer_->Forward(8, kTopK, ids, w, x_.data(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("output is null")));
}

TEST_F(MoeErrorTest, ConcurrentForwardIsRejected) {
  const Routing r = RandomRouting(kMaxLen, 74);
  const RowMatrixXf x = RandomMatrix(kMaxLen, kHidden, 75);
  RowMatrixXf expected = RunLayer(*layer_, r, x);
  int rejected = 0;
  for (int attempt = 0; attempt < 50 && rejected == 0; ++attempt) {
    RowMatrixXf out_a(kMaxLen, kHidden), out_b(kMaxLen, kHidden);
    absl::Status a, b;
    std::thread other([&] {
      a = layer_->Forward(kMaxLen, r.k, r.ids.data(), r.weights.data(), x.data(), out_a.data());
    });
    b = layer_->Forward(kMaxLen, r.k, r.ids.data(), r.weights.data(), x.data(), out_b.data());
    other.join();
    for (const auto& [status, out] : {std::pair{&a, &out_a}, std::pair{&b, &out_b}}) {
      if (status->ok()) {
        EXPECT_EQ(*out, expected);
      } else {
        EXPECT_THAT(*status, StatusIs(absl::StatusCode::kFailedPrecondition,
                                      HasSubstr("another Forward call is running")));
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, 0) << "no two calls overlapped in 50 attempts";
}

TEST(MoeCreateTest, WrongExpertCountOrShapeNamesExpertAndProjection) {
  std::vector<ExpertFloatWeights> floats = RandomExperts(81);
  const MoeConfig config = SmallConfig(WeightFormat::kNvfp4, GemmPath::kFp4W4A8);
  EXPECT_THAT(MoeLayer::Create(config, absl::MakeConstSpan(floats).subspan(0, 7)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("7 experts given, config.expert_num = 8")));
  floats[6].up = RandomMatrix(kInter, kHidden + 16, 1);
  EXPECT_THAT(MoeLayer::Create(config, floats),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expert 6 up: shape [128, 272], expected [128, 256]")));
  floats = RandomExperts(81);
  floats[2].down = floats[2].down.transpose().eval();
  EXPECT_THAT(MoeLayer::Create(config, floats),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expert 2 down: shape")));
  MoeConfig bad = config;
  bad.hidden_size = 100;
  EXPECT_THAT(MoeLayer::Create(bad, floats),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("MoeConfig.hidden_size")));
}

TEST(MoeCreateTest, PreQuantizedTensorsOfTheWrongFormatOrShape) {
  const std::vector<ExpertFloatWeights> floats = RandomExperts(91);
  MoeConfig config = SmallConfig(WeightFormat::kInt4K2, GemmPath::kInt4W4A8);
  std::vector<ExpertQuantizedWeights> quantized;
  for (int64_t e = 0; e < kExperts; ++e) {
    quantized.push_back({*QuantizeInt4K2("gate", floats[e].gate, 32),
                         *QuantizeInt4K2("up", floats[e].up, 32),
                         *QuantizeInt4K2("down", floats[e].down, 32)});
  }
  ASSERT_TRUE(MoeLayer::Create(config, quantized).ok());
  config.group_size = 64;
  EXPECT_THAT(MoeLayer::Create(config, quantized),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expert 0 gate: group size 32, the layer is configured for 64")));
  config.group_size = 32;
  quantized[4].down = *QuantizeNvfp4("down", floats[4].down);
  EXPECT_THAT(MoeLayer::Create(config, quantized),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expert 4 down: tensor is nvfp4")));
  quantized[4].down = *QuantizeInt4K2("down", floats[4].up, 32);
  EXPECT_THAT(MoeLayer::Create(config, quantized),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expert 4 down: shape [128, 256], expected [256, 128]")));
}


}  // namespace
}  // namespace fp4moe::moe
