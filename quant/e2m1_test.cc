#include "quant/e2m1.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace fp4moe {
namespace {

TEST(E2M1Test, DecodesAllSixteenCodes) {
  // Code layout: sign, two exponent bits (bias 1), one mantissa bit; exponent 0 is subnormal.
  for (uint8_t code = 0; code < 16; ++code) {
    const int exponent = (code >> 1) & 0x3;
    const int mantissa = code & 0x1;
    const float magnitude =
        exponent == 0 ? 0.5f * mantissa : std::ldexp(1.0f + 0.5f * mantissa, exponent - 1);
    EXPECT_EQ(DecodeE2M1(code), (code & 0x8) ? -magnitude : magnitude) << int(code);
  }
}

TEST(E2M1Test, EncodeInvertsDecode) {
  for (uint8_t code = 0; code < 16; ++code) {
    EXPECT_EQ(EncodeE2M1(DecodeE2M1(code)), code) << int(code);
  }
}

TEST(E2M1Test, TiesGoToTheEvenCode) {
  struct Tie {
    float x;
    uint8_t code;
  };
  for (const Tie& t : {Tie{0.25f, 0}, Tie{0.75f, 2}, Tie{1.25f, 2}, Tie{1.75f, 4},
                       Tie{2.5f, 4}, Tie{3.5f, 6}, Tie{5.0f, 6}}) {
    EXPECT_EQ(EncodeE2M1(t.x), t.code) << t.x;
    EXPECT_EQ(EncodeE2M1(-t.x), t.code | kE2M1SignBit) << -t.x;
  }
}

TEST(E2M1Test, EveryBoundaryRoundsToTheNearerNeighbour) {
  for (uint8_t lower = 0; lower < 7; ++lower) {
    const float mid = 0.5f * (kE2M1Magnitudes[lower] + kE2M1Magnitudes[lower + 1]);
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(EncodeE2M1(std::nextafter(mid, 0.0f)), lower) << mid;
    EXPECT_EQ(EncodeE2M1(std::nextafter(mid, inf)), lower + 1) << mid;
  }
}

TEST(E2M1Test, SaturatesAtSix) {
  EXPECT_EQ(EncodeE2M1(6.5f), 7);
  EXPECT_EQ(EncodeE2M1(1e30f), 7);
  EXPECT_EQ(EncodeE2M1(std::numeric_limits<float>::infinity()), 7);
  EXPECT_EQ(EncodeE2M1(-100.0f), 0xF);
}

TEST(E2M1Test, NegativeValuesRoundingToZeroKeepTheSign) {
  EXPECT_EQ(EncodeE2M1(-0.1f), 0x8);
  EXPECT_EQ(EncodeE2M1(-0.25f), 0x8);
  EXPECT_EQ(EncodeE2M1(-0.0f), 0x8);
  EXPECT_EQ(EncodeE2M1(0.0f), 0x0);
}

}  // namespace
}  // namespace fp4moe
