#include "quant/e4m3.h"

#include <cmath>
#include <cstring>

namespace fp4moe {
namespace {

constexpr uint8_t kMaxFiniteMagnitude = 0x7E;  // 448
constexpr float kMinNormal = 0.015625f;        // 2^-6

uint32_t FloatBits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

}  // namespace

uint8_t EncodeE4M3(float x) {
  if (std::isnan(x)) return kE4M3NaN;
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  const float a = std::fabs(x);
  uint32_t magnitude;
  if (a < kMinNormal) {
    // Subnormal range: a multiple of 2^-9; the scaling is exact, nearbyint rounds to even.
    // A result of 8 is the smallest normal, code 0x08, so the two ranges join seamlessly.
    magnitude = static_cast<uint32_t>(std::nearbyint(a * 512.0f));
  } else if (a >= kE4M3Max) {
    magnitude = kMaxFiniteMagnitude;
  } else {
    // Round float32's 23-bit mantissa to 3 bits, ties to even, carrying into the exponent;
    // then rebias the exponent from 127 to 7.
    const uint32_t bits = FloatBits(a);
    const uint32_t rounded = (bits + 0x7FFFF + ((bits >> 20) & 1)) >> 20;
    magnitude = rounded - ((127 - 7) << 3);
    if (magnitude > kMaxFiniteMagnitude) magnitude = kMaxFiniteMagnitude;
  }
  return sign | static_cast<uint8_t>(magnitude);
}

float DecodeE4M3(uint8_t code) {
  const uint8_t magnitude = code & 0x7F;
  if (magnitude == kE4M3NaN) return std::nanf("");
  const int exponent = magnitude >> 3;
  const int mantissa = magnitude & 0x7;
  const float value = exponent == 0 ? std::ldexp(static_cast<float>(mantissa), -9)
                                    : std::ldexp(1.0f + mantissa / 8.0f, exponent - 7);
  return (code & 0x80) ? -value : value;
}

}  // namespace fp4moe
