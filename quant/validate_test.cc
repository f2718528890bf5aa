#include "quant/validate.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "quant/bf16.h"
#include "quant/test_matchers.h"

namespace fp4moe {
namespace {

using ::testing::HasSubstr;

float FromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Every kind of non-finite value (infinities, quiet and signaling NaNs, NaN payloads) at every
// place of rows longer than any vector, and the finite values nearest them, which pass.
TEST(AllFiniteTest, FindsEveryNonFiniteValueAnywhere) {
  const uint32_t non_finite[] = {0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0xFFFFFFFF};
  const uint32_t finite_extremes[] = {0x7F7FFFFF, 0xFF7FFFFF, 0x00000001, 0x80000000};
  for (const int64_t n : {1, 7, 16, 33, 100}) {
    std::vector<float> x(n, 1.0f);
    for (int64_t i = 0; i < n; ++i) x[i] = FromBits(finite_extremes[i % 4]);
    EXPECT_TRUE(AllFinite(x.data(), n)) << n;
    const std::vector<float> finite = x;
    for (int64_t i = 0; i < n; ++i) {
      for (uint32_t bits : non_finite) {
        x = finite;
        x[i] = FromBits(bits);
        EXPECT_FALSE(AllFinite(x.data(), n)) << n << " at " << i << " bits " << bits;
        std::vector<uint16_t> bf16(n, FloatToBf16(1.0f));
        bf16[i] = static_cast<uint16_t>(bits >> 16);
        EXPECT_FALSE(AllFiniteBf16(bf16.data(), n)) << n << " at " << i << " bits " << bits;
        EXPECT_EQ(FirstNonFiniteBf16(bf16.data(), n), i) << n << " bits " << bits;
      }
    }
    std::vector<uint16_t> bf16(n, 0x7F7F);  // the largest finite BF16
    bf16[0] = 0xFF7F;
    EXPECT_TRUE(AllFiniteBf16(bf16.data(), n)) << n;
    EXPECT_EQ(FirstNonFiniteBf16(bf16.data(), n), n);
  }
}

TEST(ValidateQuantizableTest, NamesTheFirstNonFiniteValue) {
  RowMatrixXf m = RowMatrixXf::Ones(3, 48);
  EXPECT_TRUE(ValidateQuantizable("w", m, 16).ok());
  m(2, 40) = std::numeric_limits<float>::quiet_NaN();
  m(1, 47) = -std::numeric_limits<float>::infinity();
  EXPECT_THAT(ValidateQuantizable("w", m, 16),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("w: non-finite value -inf at [1, 47]")));
}

}  // namespace
}  // namespace fp4moe
