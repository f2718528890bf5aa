#include "quant/bf16.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "gtest/gtest.h"

namespace fp4moe {
namespace {

TEST(Bf16Test, ExactValuesRoundTrip) {
  for (float x : {0.0f, 1.0f, -2.5f, 448.0f, 1.0f / 128, -65536.0f}) {
    EXPECT_EQ(Bf16ToFloat(FloatToBf16(x)), x);
  }
}

TEST(Bf16Test, RoundsToNearestEven) {
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: even (1) wins.
  EXPECT_EQ(RoundToBf16(1.0f + std::ldexp(1.0f, -8)), 1.0f);
  // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
  EXPECT_EQ(RoundToBf16(1.0f + 3 * std::ldexp(1.0f, -8)), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_EQ(RoundToBf16(std::nextafter(1.0f + std::ldexp(1.0f, -8), 2.0f)),
            1.0f + std::ldexp(1.0f, -7));
  EXPECT_EQ(FloatToBf16(1.0f), 0x3F80);
  EXPECT_EQ(FloatToBf16(-1.0f), 0xBF80);
}

TEST(Bf16Test, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(inf)), inf);
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(-inf)), -inf);
  EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(std::nanf("")))));
  // A NaN whose payload sits only in the low bits must not become infinity.
  const uint32_t low_payload_nan = 0x7F800001u;
  float x;
  std::memcpy(&x, &low_payload_nan, sizeof x);
  EXPECT_TRUE(std::isnan(RoundToBf16(x)));
  // The largest finite float rounds up to infinity, as round-to-nearest-even requires.
  EXPECT_EQ(RoundToBf16(std::numeric_limits<float>::max()), inf);
}

}  // namespace
}  // namespace fp4moe
