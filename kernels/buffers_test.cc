#include "kernels/buffers.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "absl/base/casts.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/microkernel_table.h"
#include "quant/bf16.h"
#include "quant/random_matrix.h"
#include "quant/test_matchers.h"

namespace fp4moe::kernels {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr int64_t kK = 64, kGroup = 32;

std::vector<uint16_t> ToBf16(const RowMatrixXf& x) {
  std::vector<uint16_t> bf16(x.size());
  for (int64_t i = 0; i < x.size(); ++i) bf16[i] = FloatToBf16(x.data()[i]);
  return bf16;
}

class BufferARangeTest : public ::testing::TestWithParam<GemmPath> {};

// Two ranges set one after the other (float input, BF16 input, float or BF16 rows gathered by
// index, the BF16 ones also as rows the caller checked) hold what buffers of their rows alone
// hold; W4A4's tensor scale is each range's own.
TEST_P(BufferARangeTest, EachRangeHoldsWhatABufferOfItsRowsAloneHolds) {
  const GemmPath path = GetParam();
  // Magnitudes a thousand times apart: one tensor scale for both would lose the small rows.
  const RowMatrixXf small = RandomMatrix(3, kK, 1), large = 1000 * RandomMatrix(5, kK, 2);
  enum class Input { kFloat, kBf16, kGathered, kBf16Gathered, kBf16GatheredChecked };
  for (const Input input : {Input::kFloat, Input::kBf16, Input::kGathered, Input::kBf16Gathered,
                            Input::kBf16GatheredChecked}) {
    SCOPED_TRACE(static_cast<int>(input));
    absl::StatusOr<BufferA> shared = BufferA::Create(path, 8, kK, kGroup);
    absl::StatusOr<BufferA> alone_small = BufferA::Create(path, 3, kK, kGroup);
    absl::StatusOr<BufferA> alone_large = BufferA::Create(path, 5, kK, kGroup);
    ASSERT_TRUE(shared.ok() && alone_small.ok() && alone_large.ok());
    const auto set = [input](BufferA& a, const RowMatrixXf& x, int64_t row0) {
      if (input == Input::kBf16) return a.SetBf16("x", ToBf16(x).data(), x.rows(), row0);
      if (input == Input::kFloat) return a.Set("x", x, row0);
      // x's rows in reverse order among rows of other values: SetRows gathers them back.
      RowMatrixXf source = RandomMatrix(x.rows() + 2, kK, 9);
      std::vector<int64_t> indices(x.rows());
      for (int64_t r = 0; r < x.rows(); ++r) {
        indices[r] = x.rows() - r;
        source.row(indices[r]) = x.row(r);
      }
      if (input == Input::kBf16Gathered) {
        return a.SetBf16Rows("x", ToBf16(source).data(), indices, row0);
      }
      if (input == Input::kBf16GatheredChecked) {
        return a.SetBf16Rows("x", ToBf16(source).data(), indices, row0,
                             BufferA::Check::kCheckedByCaller);
      }
      return a.SetRows("x", source.data(), indices, row0);
    };
    ASSERT_TRUE(set(*shared, large, 3).ok());
    ASSERT_TRUE(set(*shared, small, 0).ok());
    ASSERT_TRUE(set(*alone_small, small, 0).ok());
    ASSERT_TRUE(set(*alone_large, large, 0).ok());
    const RowMatrixXf rows = shared->Dequantize(8);
    EXPECT_EQ(rows.topRows(3), alone_small->Dequantize(3));
    EXPECT_EQ(rows.bottomRows(5), alone_large->Dequantize(5));
    GemmArgs small_args, large_args, alone_args;
    ASSERT_TRUE(shared->FillArgs({0, 3}, small_args).ok());
    ASSERT_TRUE(shared->FillArgs({3, 5}, large_args).ok());
    ASSERT_TRUE(alone_large->FillArgs({0, 5}, alone_args).ok());
    EXPECT_EQ(large_args.m, 5);
    EXPECT_EQ(large_args.a_fp4.tensor_scale, alone_args.a_fp4.tensor_scale);
    if (path == GemmPath::kFp4W4A4Lut) {
      EXPECT_NE(small_args.a_fp4.tensor_scale, large_args.a_fp4.tensor_scale);
      EXPECT_EQ(std::memcmp(large_args.a_fp4.codes, alone_args.a_fp4.codes, 5 * kK / 2), 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryPath, BufferARangeTest,
                         ::testing::ValuesIn(AllPaths().begin(), AllPaths().end()));

TEST(BufferATest, RowsOutsideTheBufferAreErrors) {
  absl::StatusOr<BufferA> a = BufferA::Create(GemmPath::kFp4W4A8, 8, kK, kGroup);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->Set("x", RandomMatrix(3, kK, 1), 5).ok());
  EXPECT_THAT(a->Set("moe input", RandomMatrix(3, kK, 1), 6),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("moe input"), HasSubstr("[3, 64] written from row 6"),
                             HasSubstr("do not fit a buffer of [8, 64]"))));
  EXPECT_THAT(a->Set("x", RandomMatrix(3, kK, 1), -1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("from row -1")));
  const std::vector<uint16_t> bf16 = ToBf16(RandomMatrix(3, kK, 1));
  EXPECT_THAT(a->SetBf16("x", bf16.data(), 3, 6),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("3 rows written from row 6 do not fit a buffer of 8 rows")));
  EXPECT_THAT(a->SetBf16("x", bf16.data(), -1, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("-1 rows")));
  const RowMatrixXf source = RandomMatrix(4, kK, 1);
  const std::vector<int64_t> three = {0, 3, 2};
  EXPECT_THAT(a->SetRows("x", source.data(), three, 6),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("3 rows written from row 6 do not fit a buffer of 8 rows")));
  EXPECT_THAT(a->SetRows("x", source.data(), {}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0 rows")));
  const std::vector<uint16_t> source_bf16 = ToBf16(source);
  EXPECT_THAT(a->SetBf16Rows("x", source_bf16.data(), three, 6),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("3 rows written from row 6 do not fit a buffer of 8 rows")));
  EXPECT_THAT(a->SetBf16Rows("x", source_bf16.data(), {}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0 rows")));
}

// A NaN or an infinity in the activations, float or BF16, is named by its row and column on
// every path.
TEST(BufferATest, NonFiniteActivationsAreErrorsNamingThePlace) {
  for (const GemmPath path : AllPaths()) {
    SCOPED_TRACE(PathName(path));
    absl::StatusOr<BufferA> a = BufferA::Create(path, 8, kK, kGroup);
    ASSERT_TRUE(a.ok());
    RowMatrixXf x = RandomMatrix(3, kK, 1);
    // Every kind: the BF16 paths find them on the rounded rows, where a NaN whose payload a
    // plain rounding carries to zero (all ones) would vanish.
    for (const float bad : {-INFINITY, absl::bit_cast<float>(0xFFFFFFFFu),
                             absl::bit_cast<float>(0x7FFF8000u)}) {
      x(2, 37) = bad;
      EXPECT_THAT(a->Set("moe input", x, 4),
                  StatusIs(absl::StatusCode::kInvalidArgument,
                           AllOf(HasSubstr("moe input: non-finite value"), HasSubstr("[2, 37]"))));
    }
    x(2, 37) = std::numeric_limits<float>::quiet_NaN();
    std::vector<uint16_t> bf16 = ToBf16(RandomMatrix(3, kK, 1));
    bf16[1 * kK + 5] = 0xFF80;  // -inf
    EXPECT_THAT(a->SetBf16("x", bf16.data(), 3, 4),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("[1, 5]")));
    // Gathered: named by the row of the Set, not of the source.
    const std::vector<int64_t> rows = {1, 2, 0};
    EXPECT_THAT(a->SetRows("moe input", x.data(), rows, 4),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("moe input"), HasSubstr("[1, 37]"))));
    // The -inf lies in source row 1, row 0 of this Set.
    const std::vector<int64_t> bf16_rows = {1, 0, 2};
    EXPECT_THAT(a->SetBf16Rows("moe input", bf16.data(), bf16_rows, 4),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("moe input"), HasSubstr("[0, 5]"))));
  }
}

// Row blocks hold each row's window of codes and scales where WeightsView says, the last
// block's rows past n zero; formats without one-byte scales keep none.
TEST(BufferBTest, RowBlocksHoldEachRowsWindows) {
  constexpr int64_t kN = 40, kRowK = 128;  // two blocks, the second of 8 rows
  const RowMatrixXf w = RandomMatrix(kN, kRowK, 5);
  for (WeightFormat format : {WeightFormat::kNvfp4, WeightFormat::kMxfp4}) {
    absl::StatusOr<BufferB> rows = BufferB::Quantize("w", w, format);
    ASSERT_TRUE(rows.ok()) << rows.status();
    EXPECT_EQ(rows->view().row_block_codes, nullptr);
    EXPECT_TRUE(rows->CanAddRowBlocks());
    const BufferB blocks = rows->WithRowBlocks();
    const WeightsView& v = blocks.view();
    ASSERT_NE(v.row_block_codes, nullptr);
    EXPECT_FALSE(blocks.CanAddRowBlocks());
    ASSERT_NE(v.row_block_scales, nullptr);
    constexpr int64_t kWindows = kRowK / 64;
    // Two blocks of windows beside the rows; the streamed bytes stay the rows'.
    EXPECT_EQ(blocks.streamed_bytes(), rows->streamed_bytes());
    EXPECT_EQ(blocks.resident_bytes(),
              rows->resident_bytes() + 2 * kWindows * (kRowBlockRows * 32 + kRowBlockRows * 4));
    for (int64_t block = 0; block < 2; ++block) {
      for (int64_t w = 0; w < kWindows; ++w) {
        for (int64_t i = 0; i < kRowBlockRows; ++i) {
          const int64_t row = block * kRowBlockRows + i, slot = (block * kWindows + w) * 32 + i;
          const uint8_t* codes = v.row_block_codes + slot * 32;
          const uint8_t* scales = v.row_block_scales + slot * 4;
          if (row < kN) {
            EXPECT_EQ(std::memcmp(codes, v.codes + row * kRowK / 2 + w * 32, 32), 0) << row;
            EXPECT_EQ(std::memcmp(scales, v.scales + row * kRowK / 16 + w * 4, 4), 0) << row;
          } else {
            EXPECT_EQ(std::vector<uint8_t>(codes, codes + 32), std::vector<uint8_t>(32, 0));
            EXPECT_EQ(std::vector<uint8_t>(scales, scales + 4), std::vector<uint8_t>(4, 0));
          }
        }
      }
    }
    // A clone keeps them, in its own memory.
    const BufferB clone = blocks.Clone();
    ASSERT_NE(clone.view().row_block_codes, nullptr);
    EXPECT_NE(clone.view().row_block_codes, v.row_block_codes);
    EXPECT_EQ(std::memcmp(clone.view().row_block_codes, v.row_block_codes, 2 * kWindows * 1024),
              0);
  }
  for (WeightFormat format : {WeightFormat::kInt4K2, WeightFormat::kFp4FloatScale}) {
    absl::StatusOr<BufferB> rows = BufferB::Quantize("w", w, format);
    ASSERT_TRUE(rows.ok()) << rows.status();
    EXPECT_FALSE(rows->CanAddRowBlocks());
    EXPECT_EQ(rows->WithRowBlocks().view().row_block_codes, nullptr);
    EXPECT_EQ(rows->WithRowBlocks().resident_bytes(), rows->resident_bytes());
  }
}

}  // namespace
}  // namespace fp4moe::kernels
