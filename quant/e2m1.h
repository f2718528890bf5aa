#ifndef FP4MOE_QUANT_E2M1_H_
#define FP4MOE_QUANT_E2M1_H_

#include <array>
#include <cstdint>

namespace fp4moe {

// FP4 E2M1: bit 3 sign, bits 2..1 exponent (bias 1), bit 0 mantissa. The eight magnitudes,
// indexed by the low three bits of a code. No infinities, no NaN.
inline constexpr std::array<float, 8> kE2M1Magnitudes = {0.0f, 0.5f, 1.0f, 1.5f,
                                                         2.0f, 3.0f, 4.0f, 6.0f};
inline constexpr float kE2M1Max = 6.0f;
inline constexpr uint8_t kE2M1SignBit = 0x8;

// Round to nearest, ties to the even code (0.25 -> 0, 0.75 -> 1, 2.5 -> 2, 5 -> 4), saturating
// at 6. The sign bit follows the input's sign, also for values that round to zero. The input
// must not be NaN (callers validate tensors first).
uint8_t EncodeE2M1(float x);
float DecodeE2M1(uint8_t code);

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_E2M1_H_
