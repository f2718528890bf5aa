#ifndef FP4MOE_KERNELS_BLOCK_SCALE_H_
#define FP4MOE_KERNELS_BLOCK_SCALE_H_

#include <cstdint>

#include "kernels/microkernel.h"

namespace fp4moe::kernels {

namespace {
// Bytes per block scale of `kind`. In an anonymous namespace, so that kernels compute it inline
// (see kernels/microkernel.bzl and, on calls between tile instructions, the W4A16 AMX driver).
[[maybe_unused]] constexpr int ScaleBytes(ScaleKind kind) {
  switch (kind) {
    case ScaleKind::kE4M3:
    case ScaleKind::kE8M0:
      return 1;
    case ScaleKind::kBf16:
      return 2;
    case ScaleKind::kFloat32:
      return 4;
  }
  return 1;
}
}  // namespace

// The value of scale `index` in an array of scales of `kind` (scalar kernels and tests; the
// SIMD kernels decode whole vectors of scales themselves).
float DecodeBlockScale(ScaleKind kind, const uint8_t* scales, int64_t index);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_BLOCK_SCALE_H_
