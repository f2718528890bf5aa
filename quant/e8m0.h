#ifndef FP4MOE_QUANT_E8M0_H_
#define FP4MOE_QUANT_E8M0_H_

#include <cstdint>

namespace fp4moe {

// E8M0 (float8_e8m0fnu), the OCP Microscaling scale: 2^(code - 127), code 0xFF is NaN.
inline constexpr uint8_t kE8M0NaN = 0xFF;

float DecodeE8M0(uint8_t code);

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_E8M0_H_
