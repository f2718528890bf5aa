#ifndef FP4MOE_QUANT_E4M3_H_
#define FP4MOE_QUANT_E4M3_H_

#include <cstdint>

namespace fp4moe {

// FP8 E4M3 as float8_e4m3fn: bias 7, no infinities, 0x7F / 0xFF are NaN, largest finite 448,
// subnormals in steps of 2^-9.
inline constexpr float kE4M3Max = 448.0f;
inline constexpr uint8_t kE4M3NaN = 0x7F;

// Round to nearest even, saturating to +-448 (NVIDIA's __NV_SATFINITE conversion): infinities
// and finite values beyond 448 become +-448; NaN becomes 0x7F.
uint8_t EncodeE4M3(float x);
float DecodeE4M3(uint8_t code);

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_E4M3_H_
