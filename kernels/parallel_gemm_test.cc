#include "kernels/parallel_gemm.h"

#include <cstring>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu_features.h"
#include "kernels/microkernel_table.h"
#include "quant/random_matrix.h"
#include "quant/test_matchers.h"

namespace fp4moe::kernels {
namespace {

using ::testing::HasSubstr;

TEST(ParallelGemmTest, SlicesAreChunksButAtLeastOneAThreadAndAtMostOneATile) {
  EXPECT_EQ(ParallelSlices(2048, 16), 16);   // 16 chunks: one a thread
  EXPECT_EQ(ParallelSlices(7168, 16), 56);   // one a chunk
  EXPECT_EQ(ParallelSlices(16384, 16), 128);
  EXPECT_EQ(ParallelSlices(7168, 1), 56);
  EXPECT_EQ(ParallelSlices(1024, 16), 16);   // 16 tiles: one a thread, of one tile
  EXPECT_EQ(ParallelSlices(300, 16), 5);     // 5 tiles
  EXPECT_EQ(ParallelSlices(130, 2), 2);      // 2 chunks
  EXPECT_EQ(ParallelSlices(130, 4), 3);      // 3 tiles
}

// Every kernel this CPU runs (the emulated AMX ones included), on a team of 3 threads: the bits
// of one call over all columns, since each column's sums come from the same kernel in the same
// order whatever slice holds it.
TEST(ParallelGemmTest, GivesTheBitsOfOneCallOverAllColumns) {
  constexpr int64_t kM = 40, kN = 520, kK = 256, kGroup = 32;
  for (const Microkernel& kernel : AllMicrokernels()) {
    if (!CanRun(kernel, DetectedCpuFeatures())) continue;
    const bool int4 = PathTakesFormat(kernel.path, WeightFormat::kInt4K2);
    absl::StatusOr<BufferB> rows = BufferB::Quantize(
        "w", RandomMatrix(kN, kK, 1, Distribution::kGaussian, 0.05f),
        int4 ? WeightFormat::kInt4K2 : WeightFormat::kNvfp4, kGroup);
    ASSERT_TRUE(rows.ok()) << rows.status();
    const BufferB b = ReadsRowBlocks(kernel) ? rows->WithRowBlocks() : *std::move(rows);
    const int64_t group = b.block();
    absl::StatusOr<BufferA> a = BufferA::Create(kernel.path, kM, kK, group,
                                                ReadsTileOrder(kernel), ReadsColumnWindows(kernel));
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(a->Set("x", RandomMatrix(kM, kK, 2)).ok());
    const BufferB& weights = b;
    BufferC one(kM, kN), team(kM, kN);
    ASSERT_TRUE(Gemm(kernel, kM, kN, kK, group, *a, weights, one, 0, 1).ok()) << kernel.name;
    ASSERT_TRUE(ParallelGemm(kernel, kM, kN, kK, group, *a, weights, team, 3).ok())
        << kernel.name;
    const auto one_rows = one.ToMatrix(kM), team_rows = team.ToMatrix(kM);
    EXPECT_EQ(std::memcmp(one_rows.data(), team_rows.data(), kM * kN * sizeof(float)), 0)
        << kernel.name;
    // A slice count given: one slice a tile.
    BufferC tiles(kM, kN);
    ASSERT_TRUE(ParallelGemm(kernel, kM, kN, kK, group, *a, weights, tiles, 3, 9).ok())
        << kernel.name;
    const auto tile_rows = tiles.ToMatrix(kM);
    EXPECT_EQ(std::memcmp(one_rows.data(), tile_rows.data(), kM * kN * sizeof(float)), 0)
        << kernel.name;
  }
}

TEST(ParallelGemmTest, AnErrorOfTheSlicesIsReturned) {
  absl::StatusOr<BufferB> b = BufferB::Quantize("w", RandomMatrix(256, 64, 1), WeightFormat::kNvfp4);
  ASSERT_TRUE(b.ok());
  absl::StatusOr<BufferA> a = BufferA::Create(GemmPath::kFp4W4A8, 4, 64, 16);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->Set("x", RandomMatrix(4, 64, 2)).ok());
  BufferC c(4, 256);
  const Microkernel* w4a8 = *SelectMicrokernel(GemmPath::kFp4W4A8, Isa::kScalar);
  EXPECT_TRUE(ParallelGemm(*w4a8, 4, 256, 64, 16, *a, *b, c, 2).ok());
  EXPECT_THAT(ParallelGemm(*w4a8, 4, 256, 128, 16, *a, *b, c, 2),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("do not match")));
}

}  // namespace
}  // namespace fp4moe::kernels
