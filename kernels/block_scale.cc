#include "kernels/block_scale.h"

#include <cstring>

#include "quant/bf16.h"
#include "quant/e4m3.h"
#include "quant/e8m0.h"

namespace fp4moe::kernels {

float DecodeBlockScale(ScaleKind kind, const uint8_t* scales, int64_t index) {
  switch (kind) {
    case ScaleKind::kE4M3:
      return DecodeE4M3(scales[index]);
    case ScaleKind::kE8M0:
      return DecodeE8M0(scales[index]);
    case ScaleKind::kBf16: {
      Bf16 bits;
      std::memcpy(&bits, scales + 2 * index, sizeof bits);
      return Bf16ToFloat(bits);
    }
    case ScaleKind::kFloat32: {
      float value;
      std::memcpy(&value, scales + 4 * index, sizeof value);
      return value;
    }
  }
  return 0.0f;
}

}  // namespace fp4moe::kernels
