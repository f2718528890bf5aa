#include "kernels/gemm.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/microkernel_table.h"
#include "quant/random_matrix.h"
#include "quant/test_matchers.h"

namespace fp4moe::kernels {
namespace {

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

}  // namespace
}  // namespace fp4moe::kernels
