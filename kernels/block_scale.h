#ifndef FP4MOE_KERNELS_BLOCK_SCALE_H_
#define FP4MOE_KERNELS_BLOCK_SCALE_H_

#include <cstdint>

#include "kernels/microkernel.h"

namespace fp4moe::kernels {

int ScaleBytes(ScaleKind kind);
// The value of scale `index` in an array of scales of `kind` (scalar kernels and tests; the
// SIMD kernels decode whole vectors of scales themselves).
float DecodeBlockScale(ScaleKind kind, const uint8_t* scales, int64_t index);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_BLOCK_SCALE_H_
