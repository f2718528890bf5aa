#include "moe/moe.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <new>
#include <numeric>
#include <optional>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/gemm.h"
#include "kernels/microkernel_table.h"
#include "moe/moe_reference.h"
#include "moe/moe_test_helpers.h"
#include "quant/bf16.h"
#include "quant/nvfp4.h"
#include "quant/random_matrix.h"
#include "quant/test_matchers.h"

// This binary's operator new counts the allocations of every thread while
// g_count_allocations is set (the no-allocation tests set it around Forward calls).
namespace {
std::atomic<bool> g_count_allocations{false};
std::atomic<int64_t> g_allocations{0};

void* Allocate(std::size_t size, std::size_t alignment) {
  if (g_count_allocations.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (size == 0) size = 1;
  void* p = alignment <= alignof(std::max_align_t)
                ? std::malloc(size)
                : std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t size) { return Allocate(size, 0); }
void* operator new[](std::size_t size) { return Allocate(size, 0); }
void* operator new(std::size_t size, std::align_val_t a) {
  return Allocate(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a) {
  return Allocate(size, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace fp4moe::moe {
namespace {

using kernels::GemmPath;

struct FormatPath {
  WeightFormat format;
  std::optional<GemmPath> path;  // nullopt: auto
};

std::string PathLabel(std::optional<GemmPath> path) {
  return path ? std::string(kernels::PathName(*path)) : "auto";
}

class MoeFormatPathTest : public ::testing::TestWithParam<FormatPath> {};

TEST_P(MoeFormatPathTest, MatchesReferenceOnDequantizedWeights) {
  const auto [format, path] = GetParam();
  const std::vector<ExpertFloatWeights> floats = RandomExperts(11);
  absl::StatusOr<std::unique_ptr<MoeLayer>> layer =
      MoeLayer::Create(SmallConfig(format, path), floats);
  ASSERT_TRUE(layer.ok()) << layer.status();
  for (int64_t qlen : {1, 2, 7, 64, 300}) {
    const Routing r = RandomRouting(qlen, 100 + qlen);
    const RowMatrixXf x = RandomMatrix(qlen, kHidden, 200 + qlen);
    const RowMatrixXf out = RunLayer(**layer, r, x);
    ExpectMatchesReference(**layer, floats, r, x, out,
                           absl::StrFormat("%s %s qlen %d", TraitsOf(format).name,
                                           PathLabel(path), qlen));
  }
}

TEST_P(MoeFormatPathTest, Bf16InputMatchesReferenceOnRoundedInput) {
  const auto [format, path] = GetParam();
  const std::vector<ExpertFloatWeights> floats = RandomExperts(12);
  absl::StatusOr<std::unique_ptr<MoeLayer>> layer =
      MoeLayer::Create(SmallConfig(format, path), floats);
  ASSERT_TRUE(layer.ok()) << layer.status();
  for (int64_t qlen : {3, 40}) {
    const Routing r = RandomRouting(qlen, 300 + qlen);
    RowMatrixXf x = RandomMatrix(qlen, kHidden, 400 + qlen);
    std::vector<uint16_t> bf16(x.size());
    for (int64_t i = 0; i < x.size(); ++i) {
      bf16[i] = FloatToBf16(x.data()[i]);
      x.data()[i] = Bf16ToFloat(bf16[i]);
    }
    RowMatrixXf out(qlen, kHidden);
    ASSERT_TRUE(
        (*layer)->Forward(qlen, r.k, r.ids.data(), r.weights.data(), bf16.data(), out.data()).ok());
    ExpectMatchesReference(**layer, floats, r, x, out,
                           absl::StrFormat("%s %s bf16 qlen %d", TraitsOf(format).name,
                                           PathLabel(path), qlen));
  }
}

TEST_P(MoeFormatPathTest, AllZeroInputGivesZeros) {
  const auto [format, path] = GetParam();
  absl::StatusOr<std::unique_ptr<MoeLayer>> layer =
      MoeLayer::Create(SmallConfig(format, path), RandomExperts(13));
  ASSERT_TRUE(layer.ok()) << layer.status();
  for (int64_t qlen : {1, 3, 64}) {  // decode and prefill
    const Routing r = RandomRouting(qlen, 800 + qlen);
    const RowMatrixXf x = RowMatrixXf::Zero(qlen, kHidden);
    EXPECT_EQ(RunLayer(**layer, r, x), RowMatrixXf::Zero(qlen, kHidden)) << "qlen " << qlen;
    const std::vector<uint16_t> bf16(qlen * kHidden, FloatToBf16(0.0f));
    RowMatrixXf out = RowMatrixXf::Constant(qlen, kHidden, 42.0f);
    const absl::Status s =
        (*layer)->Forward(qlen, r.k, r.ids.data(), r.weights.data(), bf16.data(), out.data());
    ASSERT_TRUE(s.ok()) << s << " qlen " << qlen;
    EXPECT_EQ(out, RowMatrixXf::Zero(qlen, kHidden)) << "bf16 qlen " << qlen;
  }
}

// Allocations by any thread during the Forward calls of decode and prefill, float and BF16
// input, the first calls of the layer included.
TEST_P(MoeFormatPathTest, ForwardAllocatesNothing) {
  const auto [format, path] = GetParam();
  absl::StatusOr<std::unique_ptr<MoeLayer>> layer =
      MoeLayer::Create(SmallConfig(format, path), RandomExperts(14));
  ASSERT_TRUE(layer.ok()) << layer.status();
  for (int64_t qlen : {int64_t{2}, int64_t{64}, kMaxLen}) {
    const Routing r = RandomRouting(qlen, 900 + qlen);
    const RowMatrixXf x = RandomMatrix(qlen, kHidden, 1000 + qlen);
    std::vector<uint16_t> bf16(x.size());
    for (int64_t i = 0; i < x.size(); ++i) bf16[i] = FloatToBf16(x.data()[i]);
    RowMatrixXf out(qlen, kHidden);
    g_allocations.store(0);
    g_count_allocations.store(true);
    const absl::Status f32 =
        (*layer)->Forward(qlen, r.k, r.ids.data(), r.weights.data(), x.data(), out.data());
    const absl::Status b16 =
        (*layer)->Forward(qlen, r.k, r.ids.data(), r.weights.data(), bf16.data(), out.data());
    g_count_allocations.store(false);
    ASSERT_TRUE(f32.ok()) << f32;
    ASSERT_TRUE(b16.ok()) << b16;
    EXPECT_EQ(g_allocations.load(), 0) << "qlen " << qlen;
  }
}

// qlen = max_len with k distinct experts per token: the max_len * k routed rows fill the
// arenas to their last row.
TEST_P(MoeFormatPathTest, RoutedRowsFillingTheArenaMatchReference) {
  const auto [format, path] = GetParam();
  const std::vector<ExpertFloatWeights> floats = RandomExperts(16);
  absl::StatusOr<std::unique_ptr<MoeLayer>> layer =
      MoeLayer::Create(SmallConfig(format, path), floats);
  ASSERT_TRUE(layer.ok()) << layer.status();
  const Routing r = RandomRouting(kMaxLen, 17);
  const RowMatrixXf x = RandomMatrix(kMaxLen, kHidden, 18);
  ExpectMatchesReference(**layer, floats, r, x, RunLayer(**layer, r, x),
                         absl::StrFormat("%s %s full arena", TraitsOf(format).name,
                                         PathLabel(path)));
}

// The same experts on the same rows, once at the start of the arena and once behind 64 rows
// of expert 0: bit for bit the same outputs (W4A4 included, whose activation tensor scale is
// each expert's own).
TEST_P(MoeFormatPathTest, AnExpertsResultDoesNotDependOnWhereItsRowsLie) {
  const auto [format, path] = GetParam();
  absl::StatusOr<std::unique_ptr<MoeLayer>> layer =
      MoeLayer::Create(SmallConfig(format, path), RandomExperts(19));
  ASSERT_TRUE(layer.ok()) << layer.status();
  constexpr int64_t kTokens = 64;
  Routing first = RandomRouting(kTokens, 20);
  for (int64_t& id : first.ids) id = 1 + id % (kExperts - 1);  // never expert 0
  Routing behind = first;
  for (int64_t t = 0; t < kTokens; ++t) {
    for (int j = 0; j < kTopK; ++j) {
      behind.ids.push_back(0);
      behind.weights.push_back(1.0f);
    }
  }
  const RowMatrixXf x = RandomMatrix(2 * kTokens, kHidden, 21);
  const RowMatrixXf alone = RunLayer(**layer, first, x.topRows(kTokens));
  EXPECT_EQ(RunLayer(**layer, behind, x).topRows(kTokens), alone);
}

INSTANTIATE_TEST_SUITE_P(
    AllFormatsAndPaths, MoeFormatPathTest,
    ::testing::Values(FormatPath{WeightFormat::kNvfp4, GemmPath::kFp4W4A4Lut},
                      FormatPath{WeightFormat::kNvfp4, GemmPath::kFp4W4A8},
                      FormatPath{WeightFormat::kNvfp4, GemmPath::kFp4W4A16},
                      FormatPath{WeightFormat::kFp4FloatScale, GemmPath::kFp4W4A4Lut},
                      FormatPath{WeightFormat::kFp4FloatScale, GemmPath::kFp4W4A8},
                      FormatPath{WeightFormat::kFp4FloatScale, GemmPath::kFp4W4A16},
                      FormatPath{WeightFormat::kMxfp4, GemmPath::kFp4W4A4Lut},
                      FormatPath{WeightFormat::kMxfp4, GemmPath::kFp4W4A8},
                      FormatPath{WeightFormat::kMxfp4, GemmPath::kFp4W4A16},
                      FormatPath{WeightFormat::kInt4K2, GemmPath::kInt4W4A8},
                      FormatPath{WeightFormat::kInt4K2, GemmPath::kInt4W4A16},
                      // INT4 W4A16 tiles beside INT4 W4A8 GEMVs where the CPU has AMX.
                      FormatPath{WeightFormat::kInt4K2, std::nullopt},
                      // W4A16 tiles beside W4A8 GEMVs where the CPU has AVX-512 (else W4A8).
                      FormatPath{WeightFormat::kNvfp4, std::nullopt}),
    [](const ::testing::TestParamInfo<FormatPath>& info) {
      return absl::StrFormat("%s_%s", TraitsOf(info.param.format).name,
                             PathLabel(info.param.path));
    });

class MoeRoutingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    floats_ = RandomExperts(21);
    absl::StatusOr<std::unique_ptr<MoeLayer>> layer =
        MoeLayer::Create(SmallConfig(WeightFormat::kNvfp4, GemmPath::kFp4W4A8), floats_);
    ASSERT_TRUE(layer.ok()) << layer.status();
    layer_ = std::move(*layer);
  }
  void Check(const Routing& r, const std::string& what) {
    for (int64_t qlen : {2, 64}) {  // decode and prefill
      Routing cut = r;
      cut.ids.resize(qlen * r.k);
      cut.weights.resize(qlen * r.k);
      const RowMatrixXf x = RandomMatrix(qlen, kHidden, 500 + qlen);
      ExpectMatchesReference(*layer_, floats_, cut, x, RunLayer(*layer_, cut, x),
                             absl::StrFormat("%s qlen %d", what, qlen));
    }
  }

  std::vector<ExpertFloatWeights> floats_;
  std::unique_ptr<MoeLayer> layer_;
};

TEST_F(MoeRoutingTest, AllTokensToOneExpert) {
  Routing r;
  r.k = 1;
  r.ids.assign(64, 5);
  r.weights.assign(64, 0.7f);
  Check(r, "skewed k=1");
  Routing two = RandomRouting(64, 7);
  for (int64_t t = 0; t < 64; ++t) two.ids[t * kTopK] = 2;  // slot 0 always expert 2
  for (int64_t t = 0; t < 64; ++t) {
    for (int j = 1; j < kTopK; ++j) two.ids[t * kTopK + j] = (two.ids[t * kTopK + j] == 2) ? 0 : two.ids[t * kTopK + j];
  }
  Check(two, "skewed slot 0");
}

TEST_F(MoeRoutingTest, RepeatedExpertIdsInOneToken) {
  Routing r = RandomRouting(64, 8);
  for (int64_t t = 0; t < 64; ++t) r.ids[t * kTopK + 1] = r.ids[t * kTopK];
  Check(r, "repeated ids");
}

TEST_F(MoeRoutingTest, ZeroRoutingWeights) {
  Routing r = RandomRouting(64, 9);
  for (int64_t i = 0; i < 64 * kTopK; i += 2) r.weights[i] = 0.0f;
  Check(r, "zero weights");
  Routing all_zero = RandomRouting(64, 10);
  std::fill(all_zero.weights.begin(), all_zero.weights.end(), 0.0f);
  const RowMatrixXf x = RandomMatrix(64, kHidden, 11);
  EXPECT_EQ(RunLayer(*layer_, all_zero, x).cwiseAbs().maxCoeff(), 0.0f);
}

// A token whose input row is all zero, in decode and in prefill where it is the only token of
// its expert (whose quantized activations are then all zero), on the W4A4 path: no error, a
// zero output row, and the other tokens as the reference says.
TEST(MoeLayerTest, ZeroRowAmongNonzeroRowsOnW4A4) {
  const std::vector<ExpertFloatWeights> floats = RandomExperts(15);
  absl::StatusOr<std::unique_ptr<MoeLayer>> layer =
      MoeLayer::Create(SmallConfig(WeightFormat::kNvfp4, GemmPath::kFp4W4A4Lut), floats);
  ASSERT_TRUE(layer.ok()) << layer.status();
  ASSERT_EQ((*layer)->kernel().path, GemmPath::kFp4W4A4Lut);
  for (int64_t qlen : {2, 64}) {
    const int64_t zero_token = qlen / 2;
    // Every other token takes k of experts 0..6; the zero token takes expert 7 and two others.
    Routing r;
    std::mt19937_64 rng(16 + qlen);
    std::uniform_real_distribution<float> weight(0.05f, 1.0f);
    for (int64_t t = 0; t < qlen; ++t) {
      std::vector<int64_t> order(kExperts - 1);
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), rng);
      if (t == zero_token) order[0] = kExperts - 1;
      for (int j = 0; j < r.k; ++j) {
        r.ids.push_back(order[j]);
        r.weights.push_back(weight(rng));
      }
    }
    RowMatrixXf x = RandomMatrix(qlen, kHidden, 17 + qlen);
    x.row(zero_token).setZero();
    const RowMatrixXf out = RunLayer(**layer, r, x);
    EXPECT_EQ(out.row(zero_token), RowMatrixXf::Zero(1, kHidden)) << "qlen " << qlen;
    ExpectMatchesReference(**layer, floats, r, x, out,
                           absl::StrFormat("nvfp4 w4a4 zero row qlen %d", qlen));
  }
}

TEST(MoeLayerTest, LastKernelsUsedAreWhatKernelForSays) {
  absl::StatusOr<std::unique_ptr<MoeLayer>> layer = MoeLayer::Create(
      SmallConfig(WeightFormat::kInt4K2, GemmPath::kInt4W4A8), RandomExperts(18));
  ASSERT_TRUE(layer.ok()) << layer.status();
  const MoeLayer& l = **layer;
  EXPECT_EQ(&l.KernelFor(l.kernel().min_m), &l.kernel());
  EXPECT_EQ(&l.KernelFor(1), l.kernel().min_m > 1 ? &l.gemv_kernel() : &l.kernel());
  for (int64_t qlen : {int64_t{1}, kDecodeMaxTokens}) {  // decode: every expert runs qlen rows
    const Routing r = RandomRouting(qlen, 19);
    RunLayer(**layer, r, RandomMatrix(qlen, kHidden, 20));
    // That kernel alone.
    const MoeLayer::KernelsUsed used = l.last_kernels_used();
    EXPECT_EQ(used.kernels[0], &l.KernelFor(qlen)) << "qlen " << qlen;
    EXPECT_EQ(used.kernels[1], nullptr) << "qlen " << qlen;
  }
  const Routing r = RandomRouting(kMaxLen, 21);
  RunLayer(**layer, r, RandomMatrix(kMaxLen, kHidden, 22));
  // Prefill: 3 of 8 experts per token give every expert far more than min_m of the rows.
  EXPECT_TRUE(l.last_kernels_used().Has(&l.kernel()));
}

TEST(MoeLayerTest, TensorPartsAgreeUpToFloatRounding) {
  const std::vector<ExpertFloatWeights> floats = RandomExperts(31);
  std::vector<std::unique_ptr<MoeLayer>> layers;
  for (int parts : {1, 2, 4}) {
    absl::StatusOr<std::unique_ptr<MoeLayer>> layer =
        MoeLayer::Create(SmallConfig(WeightFormat::kNvfp4, GemmPath::kFp4W4A8, parts), floats);
    ASSERT_TRUE(layer.ok()) << layer.status();
    layers.push_back(std::move(*layer));
  }
  // Parts split whole quantized tensors: the same weights whatever P.
  for (int64_t e = 0; e < kExperts; ++e) {
    EXPECT_EQ(layers[1]->DequantizedExpert(e).down, layers[0]->DequantizedExpert(e).down);
    EXPECT_EQ(layers[2]->DequantizedExpert(e).gate, layers[0]->DequantizedExpert(e).gate);
  }
  for (int64_t qlen : {1, 64}) {
    const Routing r = RandomRouting(qlen, 600 + qlen);
    const RowMatrixXf x = RandomMatrix(qlen, kHidden, 700 + qlen);
    const RowMatrixXf one = RunLayer(*layers[0], r, x);
    // W4A8 groups (16) never straddle a part boundary, so every part quantizes the same int8
    // activations and the parts differ only in float summation order: each result is within
    // the exact-arithmetic reference's float32 accumulation bound, so they are within twice it.
    const MoeReferenceResult exact =
        ReferenceMoe(Dequantized(*layers[0]), qlen, r.k, r.ids.data(), r.weights.data(), x,
                     PathRounding{}, 4);
    for (size_t i = 1; i < layers.size(); ++i) {
      const RowMatrixXf parts = RunLayer(*layers[i], r, x);
      const RowMatrixXd diff = (parts - one).cast<double>().cwiseAbs();
      EXPECT_TRUE((diff.array() <= 2 * exact.error_bound.array()).all())
          << "parts " << layers[i]->config().tp_parts << " qlen " << qlen
          << " max diff " << diff.maxCoeff();
    }
    ExpectMatchesReference(*layers[2], floats, r, x, RunLayer(*layers[2], r, x),
                           absl::StrFormat("nvfp4 w4a8 4 parts qlen %d", qlen));
  }
}

TEST(MoeLayerTest, PreQuantizedWeightsGiveTheSameLayer) {
  const std::vector<ExpertFloatWeights> floats = RandomExperts(51);
  const MoeConfig config = SmallConfig(WeightFormat::kNvfp4, GemmPath::kFp4W4A8, 2);
  std::vector<ExpertQuantizedWeights> quantized;
  for (int64_t e = 0; e < kExperts; ++e) {
    quantized.push_back({*QuantizeNvfp4("gate", floats[e].gate),
                         *QuantizeNvfp4("up", floats[e].up),
                         *QuantizeNvfp4("down", floats[e].down)});
  }
  absl::StatusOr<std::unique_ptr<MoeLayer>> from_floats = MoeLayer::Create(config, floats);
  absl::StatusOr<std::unique_ptr<MoeLayer>> from_tensors = MoeLayer::Create(config, quantized);
  ASSERT_TRUE(from_floats.ok() && from_tensors.ok());
  const Routing r = RandomRouting(20, 52);
  const RowMatrixXf x = RandomMatrix(20, kHidden, 53);
  EXPECT_EQ(RunLayer(**from_floats, r, x), RunLayer(**from_tensors, r, x));
}

// The prefill's slice width only moves the boundaries between the columns that the threads
// compute (and the bands of the down ring): each column is summed in the same order, so the
// output is the same, bit for bit. At max_len tokens with slices of 64 columns the ring holds
// 3 of the 4 bands, so a band takes the slot of one already summed.
TEST(MoeLayerTest, PrefillSliceWidthLeavesTheOutputAsItIs) {
  const std::vector<ExpertFloatWeights> floats = RandomExperts(61);
  // 256 and 512 tokens give every expert about 96 and 192 rows: every job takes wide slices.
  for (const int64_t qlen : {int64_t{256}, kMaxLen}) {
    const Routing r = RandomRouting(qlen, 62);
    const RowMatrixXf x = RandomMatrix(qlen, kHidden, 63);
    for (const auto& [format, path] :
         {std::pair{WeightFormat::kNvfp4, std::optional<GemmPath>()},
          std::pair{WeightFormat::kNvfp4, std::optional(GemmPath::kFp4W4A16)},
          std::pair{WeightFormat::kInt4K2, std::optional(GemmPath::kInt4W4A16)}}) {
      std::optional<RowMatrixXf> first;
      for (int64_t columns : {64, 128, 192, 256}) {
        MoeConfig config = SmallConfig(format, path);
        config.prefill_slice_columns = columns;
        absl::StatusOr<std::unique_ptr<MoeLayer>> layer = MoeLayer::Create(config, floats);
        ASSERT_TRUE(layer.ok()) << layer.status();
        const RowMatrixXf out = RunLayer(**layer, r, x);
        if (!first.has_value()) {
          ExpectMatchesReference(**layer, floats, r, x, out, "slices of 64 columns");
          first = out;
          continue;
        }
        EXPECT_EQ(out, *first) << TraitsOf(format).name << " slices of " << columns
                               << " columns, qlen " << qlen;
      }
    }
  }
}

// Every kernel of the layer's path that this CPU runs (other ISAs, compared variants, emulated
// copies) serves the same layer: each matches the reference, and a variant gives what its
// path's kernel of the same ISA and copy gives, bit for bit, where it sums in the same order:
// at the rows these experts get, every variant runs its kernel's products, decoded or
// scheduled another way (the scaled block sums, another order, take only up to 16 rows).
TEST(MoeLayerTest, AnyTileKernelOfThePathServesTheLayer) {
  const std::vector<ExpertFloatWeights> floats = RandomExperts(71);
  absl::StatusOr<std::unique_ptr<MoeLayer>> layer =
      MoeLayer::Create(SmallConfig(WeightFormat::kNvfp4, GemmPath::kFp4W4A16), floats);
  ASSERT_TRUE(layer.ok()) << layer.status();
  MoeLayer& l = **layer;
  const kernels::Microkernel& selected = l.kernel();
  // 256 tokens give every expert about 96 rows: every product runs the tile kernel.
  const Routing r = RandomRouting(256, 72);
  const RowMatrixXf x = RandomMatrix(256, kHidden, 73);
  std::map<std::pair<kernels::Isa, bool>, RowMatrixXf> by_family;
  int variants = 0;
  for (bool variant : {false, true}) {
    for (const kernels::Microkernel& kernel : kernels::AllMicrokernels()) {
      if (kernel.path != selected.path || kernel.variant != variant) continue;
      SCOPED_TRACE(kernel.name);
      const absl::Status used = l.UseTileKernel(kernel);
      if (!kernels::CanRun(kernel, kernels::DetectedCpuFeatures())) {
        EXPECT_EQ(used.code(), absl::StatusCode::kFailedPrecondition) << used;
        continue;
      }
      ASSERT_TRUE(used.ok()) << used;
      const RowMatrixXf out = RunLayer(l, r, x);
      ASSERT_TRUE(l.last_kernels_used().Has(&kernel));
      ExpectMatchesReference(l, floats, r, x, out, kernel.name);
      const std::pair family{kernel.isa, kernel.emulated};
      if (!variant) {
        by_family[family] = out;
        continue;
      }
      ++variants;
      ASSERT_TRUE(by_family.count(family));
      EXPECT_EQ(out, by_family[family]);
    }
  }
  EXPECT_GT(variants, 0) << "no variant of " << kernels::PathName(selected.path) << " runs here";
  // A kernel of another path is refused and leaves the layer as it was.
  ASSERT_TRUE(l.UseTileKernel(selected).ok());
  const absl::StatusOr<const kernels::Microkernel*> other =
      kernels::SelectMicrokernel(GemmPath::kFp4W4A8);
  ASSERT_TRUE(other.ok());
  const absl::Status refused = l.UseTileKernel(**other);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  EXPECT_THAT(std::string(refused.message()), ::testing::HasSubstr((*other)->name));
  EXPECT_EQ(&l.kernel(), &selected);
}

// 48 tokens give each expert about 18 rows (from about 10 to 28): a kernel that reads column
// windows (kernels::ReadsColumnWindows) runs its own range on them, from the workspace that
// UseTileKernel allocates anew for it, and matches the reference; one that also reads row
// blocks (fp4_w4a16_rowblocks_16x32_amx) reads the ones UseTileKernel gives the experts.
TEST(MoeLayerTest, ColumnWindowKernelsServeFewRowExperts) {
  const std::vector<ExpertFloatWeights> floats = RandomExperts(81);
  absl::StatusOr<std::unique_ptr<MoeLayer>> layer =
      MoeLayer::Create(SmallConfig(WeightFormat::kNvfp4, GemmPath::kFp4W4A16), floats);
  ASSERT_TRUE(layer.ok()) << layer.status();
  MoeLayer& l = **layer;
  const Routing r = RandomRouting(48, 82);
  const RowMatrixXf x = RandomMatrix(48, kHidden, 83);
  int kernels_run = 0;
  for (const kernels::Microkernel& kernel : kernels::AllMicrokernels()) {
    if (!kernels::ReadsColumnWindows(kernel) ||
        !kernels::CanRun(kernel, kernels::DetectedCpuFeatures())) {
      continue;
    }
    SCOPED_TRACE(kernel.name);
    ASSERT_TRUE(l.UseTileKernel(kernel).ok());
    if (kernels::ReadsRowBlocks(kernel)) {
      // The row blocks hold every code and scale once more (the kernel would also run
      // correctly on the rows, so only the memory shows that they were made).
      EXPECT_GE(l.expert_resident_bytes(0), 2 * l.expert_streamed_bytes(0));
    }
    const RowMatrixXf out = RunLayer(l, r, x);
    ASSERT_TRUE(l.last_kernels_used().Has(&kernel));
    ExpectMatchesReference(l, floats, r, x, out, kernel.name);
    ++kernels_run;
  }
  EXPECT_GT(kernels_run, 0) << "no kernel reading column windows runs here";
}

TEST(MoeLayerTest, AutoPathIsTheDocumentedChoice) {
  const std::vector<ExpertFloatWeights> floats = RandomExperts(61);
  for (WeightFormat format : {WeightFormat::kMxfp4, WeightFormat::kInt4K2}) {
    SCOPED_TRACE(TraitsOf(format).name);
    MoeConfig config = SmallConfig(format, std::nullopt);
    absl::StatusOr<std::unique_ptr<MoeLayer>> layer = MoeLayer::Create(config, floats);
    ASSERT_TRUE(layer.ok()) << layer.status();
    const MoeLayer& l = **layer;
    EXPECT_EQ(l.kernel().path, *ResolvePath(config));
    EXPECT_EQ(l.gemv_kernel().path, *ResolvePath(config, 1));
    EXPECT_EQ(l.gemv_path_tile_kernel().path, l.gemv_kernel().path);
    EXPECT_NE(l.kernel().path, GemmPath::kFp4W4A4Lut);
    if (l.gemv_kernel().path == l.kernel().path) continue;
    // Every product of up to Int8PathMaxRows rows runs on the int8 path, every other one the
    // tile kernel; on that path, the GEMV below its tile kernel's min_m.
    const int64_t int8_rows = Int8PathMaxRows(config);
    for (int64_t rows : {int64_t{1}, int64_t{8}, int8_rows, int8_rows + 1, int64_t{1000}}) {
      EXPECT_EQ(l.KernelFor(rows).path, *ResolvePath(config, rows)) << rows << " rows";
    }
    EXPECT_EQ(&l.KernelFor(int8_rows + 1), &l.kernel());
    EXPECT_EQ(&l.KernelFor(1), &l.gemv_kernel());
    EXPECT_EQ(&l.KernelFor(int8_rows), int8_rows >= l.gemv_path_tile_kernel().min_m
                                           ? &l.gemv_path_tile_kernel()
                                           : &l.gemv_kernel());
  }
}

// On CPUs where auto layers mix paths (a W4A16 tile kernel, an int8 GEMV kernel: NVFP4 with
// AVX-512, INT4 K2 with AMX), the layer is the int8 layer for streaming products and the W4A16
// layer for the others, bit for bit.
TEST(MoeLayerTest, AutoLayersStreamWithInt8AndTileWithW4A16) {
  const std::vector<ExpertFloatWeights> floats = RandomExperts(62);
  for (const auto& [format, int8_path, bf16_path] :
       {std::tuple{WeightFormat::kNvfp4, GemmPath::kFp4W4A8, GemmPath::kFp4W4A16},
        std::tuple{WeightFormat::kInt4K2, GemmPath::kInt4W4A8, GemmPath::kInt4W4A16}}) {
    SCOPED_TRACE(TraitsOf(format).name);
    absl::StatusOr<std::unique_ptr<MoeLayer>> mixed =
        MoeLayer::Create(SmallConfig(format, std::nullopt), floats);
    absl::StatusOr<std::unique_ptr<MoeLayer>> int8 =
        MoeLayer::Create(SmallConfig(format, int8_path), floats);
    absl::StatusOr<std::unique_ptr<MoeLayer>> bf16 =
        MoeLayer::Create(SmallConfig(format, bf16_path), floats);
    ASSERT_TRUE(mixed.ok() && int8.ok() && bf16.ok());
    if ((*mixed)->kernel().path == (*mixed)->gemv_kernel().path) {
      std::cout << "auto runs one path here: " << (*mixed)->kernel().name << "\n";
      continue;
    }
    ASSERT_EQ((*mixed)->gemv_kernel().name, (*int8)->gemv_kernel().name);
    ASSERT_EQ((*mixed)->kernel().name, (*bf16)->kernel().name);
    for (int64_t qlen : {int64_t{1}, kDecodeMaxTokens}) {
      const Routing r = RandomRouting(qlen, 63);
      const RowMatrixXf x = RandomMatrix(qlen, kHidden, 64);
      EXPECT_EQ(RunLayer(**mixed, r, x), RunLayer(**int8, r, x)) << "qlen " << qlen;
    }
    // 256 tokens give every expert about 96 rows, far above Int8PathMaxRows.
    const Routing r = RandomRouting(256, 65);
    const RowMatrixXf x = RandomMatrix(256, kHidden, 66);
    const RowMatrixXf out = RunLayer(**mixed, r, x);
    ASSERT_FALSE((*mixed)->last_kernels_used().Has(&(*mixed)->gemv_kernel()) ||
                 (*mixed)->last_kernels_used().Has(&(*mixed)->gemv_path_tile_kernel()))
        << "an expert got few tokens";
    EXPECT_EQ(out, RunLayer(**bf16, r, x));
  }
}

}  // namespace
}  // namespace fp4moe::moe
