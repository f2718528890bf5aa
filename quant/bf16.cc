#include "quant/bf16.h"

#include <cstring>

namespace fp4moe {

Bf16 FloatToBf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if ((bits & 0x7FFFFFFF) > 0x7F800000) {
    return static_cast<Bf16>((bits >> 16) | 0x0040);  // keep NaN a (quiet) NaN
  }
  return static_cast<Bf16>((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
}

float Bf16ToFloat(Bf16 x) {
  const uint32_t bits = static_cast<uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

float RoundToBf16(float x) { return Bf16ToFloat(FloatToBf16(x)); }

}  // namespace fp4moe
