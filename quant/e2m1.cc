#include "quant/e2m1.h"

#include <cmath>

namespace fp4moe {

uint8_t EncodeE2M1(float x) {
  const float a = std::fabs(x);
  // Midpoints between neighbouring magnitudes; at a tie the even code (mantissa bit 0) wins,
  // hence `<=` below an even code and `<` below an odd one.
  uint8_t magnitude;
  if (a <= 0.25f) {
    magnitude = 0;
  } else if (a < 0.75f) {
    magnitude = 1;
  } else if (a <= 1.25f) {
    magnitude = 2;
  } else if (a < 1.75f) {
    magnitude = 3;
  } else if (a <= 2.5f) {
    magnitude = 4;
  } else if (a < 3.5f) {
    magnitude = 5;
  } else if (a <= 5.0f) {
    magnitude = 6;
  } else {
    magnitude = 7;
  }
  return std::signbit(x) ? (magnitude | kE2M1SignBit) : magnitude;
}

float DecodeE2M1(uint8_t code) {
  const float magnitude = kE2M1Magnitudes[code & 0x7];
  return (code & kE2M1SignBit) ? -magnitude : magnitude;
}

}  // namespace fp4moe
