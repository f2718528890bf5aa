#include "quant/e8m0.h"

#include <cmath>

namespace fp4moe {

float DecodeE8M0(uint8_t code) {
  if (code == kE8M0NaN) return std::nanf("");
  return std::ldexp(1.0f, static_cast<int>(code) - 127);
}

}  // namespace fp4moe
