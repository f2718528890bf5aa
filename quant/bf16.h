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

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_BF16_H_
