#include "quant/e4m3.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace fp4moe {
namespace {

// Independent of the implementation: value = (8 + m) * 2^(e - 10) for e > 0, m * 2^-9 else.
double ExpectedMagnitude(int code) {
  const int e = (code >> 3) & 0xF;
  const int m = code & 0x7;
  return e == 0 ? std::ldexp(m, -9) : std::ldexp(8 + m, e - 10);
}

TEST(E4M3Test, DecodesAll256Codes) {
  for (int code = 0; code < 256; ++code) {
    const float value = DecodeE4M3(static_cast<uint8_t>(code));
    if ((code & 0x7F) == 0x7F) {
      EXPECT_TRUE(std::isnan(value)) << code;
      continue;
    }
    const double expected = (code & 0x80) ? -ExpectedMagnitude(code) : ExpectedMagnitude(code);
    EXPECT_EQ(value, expected) << code;
  }
}

TEST(E4M3Test, LandmarkCodes) {
  EXPECT_EQ(DecodeE4M3(0x7E), 448.0f);
  EXPECT_EQ(DecodeE4M3(0x38), 1.0f);
  EXPECT_EQ(DecodeE4M3(0x08), 0.015625f);     // smallest normal, 2^-6
  EXPECT_EQ(DecodeE4M3(0x01), 0.001953125f);  // smallest subnormal, 2^-9
  EXPECT_EQ(DecodeE4M3(0x80), 0.0f);
  EXPECT_TRUE(std::signbit(DecodeE4M3(0x80)));
}

TEST(E4M3Test, EncodeInvertsDecode) {
  for (int code = 0; code < 256; ++code) {
    if ((code & 0x7F) == 0x7F) continue;
    EXPECT_EQ(EncodeE4M3(DecodeE4M3(static_cast<uint8_t>(code))), code) << code;
  }
}

TEST(E4M3Test, EveryRoundingBoundaryAndTie) {
  const float inf = std::numeric_limits<float>::infinity();
  for (int lower = 0; lower < 0x7E; ++lower) {
    const float a = DecodeE4M3(static_cast<uint8_t>(lower));
    const float b = DecodeE4M3(static_cast<uint8_t>(lower + 1));
    const float mid = 0.5f * (a + b);  // exact: both have few mantissa bits
    const int even = (lower % 2 == 0) ? lower : lower + 1;
    EXPECT_EQ(EncodeE4M3(mid), even) << "tie between codes " << lower << " and " << lower + 1;
    EXPECT_EQ(EncodeE4M3(-mid), even | 0x80) << -mid;
    EXPECT_EQ(EncodeE4M3(std::nextafter(mid, 0.0f)), lower) << mid;
    EXPECT_EQ(EncodeE4M3(std::nextafter(mid, inf)), lower + 1) << mid;
  }
}

TEST(E4M3Test, SaturatesToFiniteMaximum) {
  EXPECT_EQ(EncodeE4M3(448.0f), 0x7E);
  EXPECT_EQ(EncodeE4M3(464.0f), 0x7E);  // would round up to the NaN code's place
  EXPECT_EQ(EncodeE4M3(500.0f), 0x7E);
  EXPECT_EQ(EncodeE4M3(1e30f), 0x7E);
  EXPECT_EQ(EncodeE4M3(std::numeric_limits<float>::infinity()), 0x7E);
  EXPECT_EQ(EncodeE4M3(-std::numeric_limits<float>::infinity()), 0xFE);
  EXPECT_EQ(EncodeE4M3(-1000.0f), 0xFE);
}

TEST(E4M3Test, NaNAndTinyValues) {
  EXPECT_EQ(EncodeE4M3(std::nanf("")), kE4M3NaN);
  EXPECT_EQ(EncodeE4M3(0.0f), 0x00);
  EXPECT_EQ(EncodeE4M3(-0.0f), 0x80);
  EXPECT_EQ(EncodeE4M3(std::ldexp(1.0f, -10)), 0x00);  // half the smallest subnormal: tie to 0
  EXPECT_EQ(EncodeE4M3(std::nextafter(std::ldexp(1.0f, -10), 1.0f)), 0x01);
  EXPECT_EQ(EncodeE4M3(1e-30f), 0x00);
  EXPECT_EQ(EncodeE4M3(std::numeric_limits<float>::denorm_min()), 0x00);
}

}  // namespace
}  // namespace fp4moe
