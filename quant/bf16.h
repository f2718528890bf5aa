#ifndef FP4MOE_QUANT_BF16_H_
#define FP4MOE_QUANT_BF16_H_

#include <cstdint>

namespace fp4moe {

// bfloat16 is stored as its raw 16 bits (the upper half of a float32).
using Bf16 = uint16_t;

// Round to nearest even; NaN stays NaN (quieted), infinities stay infinite.
Bf16 FloatToBf16(float x);
float Bf16ToFloat(Bf16 x);
// The float nearest to x that BF16 represents exactly (FloatToBf16 then back).
float RoundToBf16(float x);

// BF16's exponent field: all ones in NaNs and infinities only.
inline constexpr Bf16 kBf16ExponentBits = 0x7F80;
constexpr bool IsFiniteBf16(Bf16 x) { return (x & kBf16ExponentBits) != kBf16ExponentBits; }

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_BF16_H_
