#include "kernels/gemm.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu_features.h"
#include "kernels/microkernel_table.h"
#include "quant/random_matrix.h"
#include "quant/test_matchers.h"

namespace fp4moe::kernels {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(GemmTest, ThreadSlicesCoverNOnceInWholeTiles) {
  for (int64_t n : {1, 63, 64, 65, 2048, 7168}) {
    for (int nth : {1, 3, 16}) {
      int64_t expected_begin = 0;
      for (int ith = 0; ith < nth; ++ith) {
        const auto [begin, end] = ThreadSlice(n, ith, nth);
        EXPECT_EQ(begin, expected_begin) << n << " " << ith << "/" << nth;
        EXPECT_TRUE(begin % kSliceColumns == 0 || begin == n);
        expected_begin = end;
      }
      EXPECT_EQ(expected_begin, n);
    }
  }
}

TEST(GemmTest, MismatchedBuffersAreErrors) {
  absl::StatusOr<BufferB> b = BufferB::Quantize("w", RandomMatrix(32, 64, 1), WeightFormat::kNvfp4);
  ASSERT_TRUE(b.ok());
  absl::StatusOr<BufferA> a = BufferA::Create(GemmPath::kFp4W4A8, 4, 64, 16);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->Set("x", RandomMatrix(4, 64, 2)).ok());
  BufferC c(4, 32);
  const Microkernel* w4a8 = *SelectMicrokernel(GemmPath::kFp4W4A8, Isa::kScalar);
  const Microkernel* int4 = *SelectMicrokernel(GemmPath::kInt4W4A8, Isa::kScalar);
  EXPECT_TRUE(Gemm(*w4a8, 4, 32, 64, 16, *a, *b, c, 0, 1).ok());
  EXPECT_THAT(Gemm(*int4, 4, 32, 64, 16, *a, *b, c, 0, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("prepared for path")));
  EXPECT_THAT(Gemm(*w4a8, 5, 32, 64, 16, *a, *b, c, 0, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("do not match")));
  EXPECT_THAT(Gemm(*w4a8, 4, 32, 128, 16, *a, *b, c, 0, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("do not match")));
  EXPECT_THAT(Gemm(*w4a8, 4, 32, 64, 32, *a, *b, c, 0, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must agree")));
  EXPECT_THAT(Gemm(*w4a8, 4, 32, 64, 16, *a, *b, c, 2, 2),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("thread 2 of 2")));
  EXPECT_THAT(BufferA::Create(GemmPath::kFp4W4A8, 4, 60, 16),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("group must divide k")));
  EXPECT_THAT(a->Set("x", RandomMatrix(5, 64, 3)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("do not fit")));
}

TEST(GemmTest, RawNvfp4BytesAreChecked) {
  std::vector<uint8_t> codes(8 * 32 / 2, 0x21), scales(8 * 32 / 16, 0x38);
  absl::StatusOr<BufferB> b = BufferB::FromRawNvfp4("experts.0.up", 8, 32, codes.data(), scales.data(), 0.5f);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->Dequantize()(0, 0), 0.5f * 1.0f * 0.5f);  // code 1 = 0.5, scale 1, scale_2 0.5
  scales[5] = 0x7F;
  EXPECT_THAT(BufferB::FromRawNvfp4("experts.0.up", 8, 32, codes.data(), scales.data(), 0.5f),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("experts.0.up"), HasSubstr("NaN"))));
  EXPECT_THAT(BufferB::FromRawNvfp4("w", 8, 24, codes.data(), scales.data(), 0.5f),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("multiple of 16")));
}

// Every kernel this CPU runs, on rows [row0, row0 + m) of shared buffers whose other rows hold
// other activations (W4A4: of other tensor scales): the same bits as on a buffer of just those
// rows, and no other row of C written. The shared buffer keeps the tile order where the kernel
// reads it, the other not: the tiles it loads give the bits of those it packs itself.
TEST(GemmTest, RowRangeGivesTheBitsOfABufferOfJustThoseRows) {
  constexpr int64_t kN = 100, kK = 256, kGroup = 32, kBefore = 3, kAfter = 5;
  for (const Microkernel& kernel : AllMicrokernels()) {
    if (!CanRun(kernel, DetectedCpuFeatures())) continue;
    const bool int4 = PathTakesFormat(kernel.path, WeightFormat::kInt4K2);
    absl::StatusOr<BufferB> b = BufferB::Quantize(
        "w", RandomMatrix(kN, kK, 1, Distribution::kGaussian, 0.05f),
        int4 ? WeightFormat::kInt4K2 : WeightFormat::kNvfp4, kGroup);
    ASSERT_TRUE(b.ok()) << b.status();
    for (int64_t m : {1, 5, 33}) {
      SCOPED_TRACE(absl::StrFormat("%s m=%d", kernel.name, m));
      const RowMatrixXf x = RandomMatrix(m, kK, 2 + m);
      absl::StatusOr<BufferA> alone = BufferA::Create(kernel.path, m, kK, b->block());
      absl::StatusOr<BufferA> shared = BufferA::Create(kernel.path, kBefore + m + kAfter, kK,
                                                       b->block(), ReadsTileOrder(kernel),
                                                       ReadsColumnWindows(kernel));
      ASSERT_TRUE(alone.ok() && shared.ok());
      ASSERT_TRUE(alone->Set("x", x).ok());
      ASSERT_TRUE(shared->Set("before", 10 * RandomMatrix(kBefore, kK, 3)).ok());
      ASSERT_TRUE(shared->Set("x", x, kBefore).ok());
      ASSERT_TRUE(shared->Set("after", 0.1f * RandomMatrix(kAfter, kK, 4), kBefore + m).ok());
      BufferC alone_c(m, kN), shared_c(kBefore + m + kAfter, kN);
      for (int ith = 0; ith < 2; ++ith) {
        ASSERT_TRUE(Gemm(kernel, m, kN, kK, b->block(), *alone, *b, alone_c, ith, 2).ok());
        const absl::Status s =
            Gemm(kernel, {kBefore, m}, kN, kK, b->block(), *shared, *b, shared_c, ith, 2);
        ASSERT_TRUE(s.ok()) << s;
      }
      EXPECT_EQ(std::memcmp(shared_c.data() + kBefore * kN, alone_c.data(),
                            m * kN * sizeof(float)),
                0);
      const RowMatrixXf all = shared_c.ToMatrix(shared_c.max_m());
      EXPECT_EQ(all.topRows(kBefore), RowMatrixXf::Zero(kBefore, kN));
      EXPECT_EQ(all.bottomRows(kAfter), RowMatrixXf::Zero(kAfter, kN));
    }
  }
}

// Every kernel that reads row blocks gives, on weights that keep them, the bits it gives on
// the rows (which the shared tester checks against the reference), for n not a multiple of a
// block, threads' slices that end inside one, k of whole and partial kernel steps (256 k for
// W4A8) and more rows than a W4A8 row block (64).
TEST(GemmTest, RowBlocksGiveTheBitsOfTheRows) {
  constexpr int64_t kN = 200;
  int kernels = 0;
  for (const Microkernel& kernel : AllMicrokernels()) {
    if (!ReadsRowBlocks(kernel) || !CanRun(kernel, DetectedCpuFeatures())) continue;
    ++kernels;
    for (const auto& [m, kK] : {std::pair<int64_t, int64_t>{1, 256}, {5, 256}, {16, 320},
                                {20, 448}, {70, 320}}) {
      SCOPED_TRACE(absl::StrFormat("%s m=%d k=%d", kernel.name, m, kK));
      absl::StatusOr<BufferB> rows = BufferB::Quantize(
          "w", RandomMatrix(kN, kK, 1, Distribution::kGaussian, 0.05f), WeightFormat::kNvfp4);
      ASSERT_TRUE(rows.ok()) << rows.status();
      const BufferB blocks = rows->WithRowBlocks();
      ASSERT_NE(blocks.view().row_block_codes, nullptr);
      absl::StatusOr<BufferA> a =
          BufferA::Create(kernel.path, m, kK, rows->block(), ReadsTileOrder(kernel),
                          ReadsColumnWindows(kernel));
      ASSERT_TRUE(a.ok());
      ASSERT_TRUE(a->Set("x", RandomMatrix(m, kK, 2 + m)).ok());
      BufferC from_rows(m, kN), from_blocks(m, kN);
      for (int ith = 0; ith < 3; ++ith) {
        ASSERT_TRUE(Gemm(kernel, m, kN, kK, rows->block(), *a, *rows, from_rows, ith, 3).ok());
        ASSERT_TRUE(Gemm(kernel, m, kN, kK, rows->block(), *a, blocks, from_blocks, ith, 3).ok());
      }
      EXPECT_EQ(std::memcmp(from_rows.data(), from_blocks.data(), m * kN * sizeof(float)), 0);
    }
  }
  if (DetectedCpuFeatures().avx2) {
    EXPECT_GT(kernels, 0);
  }
}

TEST(GemmTest, RowRangeOutsideTheBuffersIsAnError) {
  absl::StatusOr<BufferB> b = BufferB::Quantize("w", RandomMatrix(32, 64, 1), WeightFormat::kNvfp4);
  absl::StatusOr<BufferA> a = BufferA::Create(GemmPath::kFp4W4A8, 8, 64, 16);
  ASSERT_TRUE(b.ok() && a.ok());
  ASSERT_TRUE(a->Set("x", RandomMatrix(8, 64, 2)).ok());
  BufferC c(6, 32);
  const Microkernel* w4a8 = *SelectMicrokernel(GemmPath::kFp4W4A8, Isa::kScalar);
  EXPECT_TRUE(Gemm(*w4a8, {2, 4}, 32, 64, 16, *a, *b, c, 0, 1).ok());
  for (const RowRange rows : {RowRange{-1, 2}, RowRange{3, 4}, RowRange{0, -1},
                              RowRange{7, 2}, RowRange{int64_t{1} << 62, int64_t{1} << 62}}) {
    EXPECT_THAT(Gemm(*w4a8, rows, 32, 64, 16, *a, *b, c, 0, 1),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(absl::StrFormat("m=%d from row %d", rows.count,
                                                         rows.begin)),
                               HasSubstr("do not match A [8, 64], B [32, 64], C of 6 rows"))));
  }
}

// A window stores only its columns: a slice in it lands where the whole buffer would hold it,
// bit for bit, and a slice outside it is refused.
TEST(GemmTest, OutputWindowHoldsItsColumnsOnly) {
  absl::StatusOr<BufferB> b =
      BufferB::Quantize("w", RandomMatrix(128, 64, 1), WeightFormat::kNvfp4);
  absl::StatusOr<BufferA> a = BufferA::Create(GemmPath::kFp4W4A8, 8, 64, 16);
  ASSERT_TRUE(b.ok() && a.ok());
  ASSERT_TRUE(a->Set("x", RandomMatrix(8, 64, 2)).ok());
  const Microkernel* w4a8 = *SelectMicrokernel(GemmPath::kFp4W4A8, Isa::kScalar);
  BufferC whole(8, 128);
  for (int ith = 0; ith < 2; ++ith) {
    ASSERT_TRUE(Gemm(*w4a8, {0, 8}, 128, 64, 16, *a, *b, whole, ith, 2).ok());
  }
  // Columns [64, 128) of rows 2..7, 64 floats a row, after 64 floats of room for the origin.
  std::vector<float> storage(64 + 8 * 64, -1.0f);
  const OutputWindow window{storage.data(), 64, 8, 64, 128};
  ASSERT_TRUE(Gemm(*w4a8, {2, 6}, 128, 64, 16, *a, *b, window, 1, 2).ok());
  for (int64_t r = 2; r < 8; ++r) {
    EXPECT_EQ(std::memcmp(storage.data() + r * 64 + 64, whole.data() + r * 128 + 64,
                          64 * sizeof(float)),
              0)
        << "row " << r;
  }
  EXPECT_THAT(Gemm(*w4a8, {2, 6}, 128, 64, 16, *a, *b, window, 0, 2),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("columns [0, 64) of thread 0 of 2 lie outside C's window "
                                 "[64, 128)")));
}

// A W4A4 product takes one tensor scale: rows of two Sets with different ones are refused.
TEST(GemmTest, W4A4RowRangeAcrossTwoSetsIsAnError) {
  absl::StatusOr<BufferB> b = BufferB::Quantize("w", RandomMatrix(32, 64, 1), WeightFormat::kNvfp4);
  absl::StatusOr<BufferA> a = BufferA::Create(GemmPath::kFp4W4A4Lut, 8, 64, 16);
  ASSERT_TRUE(b.ok() && a.ok());
  ASSERT_TRUE(a->Set("x", RandomMatrix(4, 64, 2)).ok());
  ASSERT_TRUE(a->Set("y", 8 * RandomMatrix(4, 64, 3), 4).ok());
  BufferC c(8, 32);
  const Microkernel* w4a4 = *SelectMicrokernel(GemmPath::kFp4W4A4Lut, Isa::kScalar);
  EXPECT_TRUE(Gemm(*w4a4, {0, 4}, 32, 64, 16, *a, *b, c, 0, 1).ok());
  EXPECT_TRUE(Gemm(*w4a4, {4, 4}, 32, 64, 16, *a, *b, c, 0, 1).ok());
  EXPECT_THAT(Gemm(*w4a4, {2, 4}, 32, 64, 16, *a, *b, c, 0, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("rows [2, 6)"), HasSubstr("different tensor scales"),
                             HasSubstr("row 4"))));
}

}  // namespace
}  // namespace fp4moe::kernels
