// INT4 K2 weights x int8 activations, plain C++: the semantics every int4_w4a8 kernel matches.
// Each group of G products sums exactly in int32 and is scaled by (weight group scale *
// activation group scale).
#include "kernels/block_scale.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"

namespace fp4moe::kernels {

void int4_w4a8_scalar(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  const WeightsView& b = args.b;
  const int64_t groups = b.k / b.block;
  for (int64_t i = 0; i < args.m; ++i) {
    const int8_t* a = args.a_int8.values + i * b.k;
    const float* a_scales = args.a_int8.scales + i * groups;
    for (int64_t j = n_begin; j < n_end; ++j) {
      const uint8_t* codes = b.codes + j * b.k / 2;
      float acc = 0.0f;
      for (int64_t g = 0; g < groups; ++g) {
        int32_t sum = 0;
        for (int64_t l = g * b.block; l < (g + 1) * b.block; ++l) {
          const int8_t q = static_cast<int8_t>(static_cast<uint8_t>(codes[l / 2] << (4 * (1 - (l & 1)))) ) >> 4;
          sum += q * a[l];
        }
        acc += static_cast<float>(sum) *
               (DecodeBlockScale(b.scale_kind, b.scales, j * groups + g) * a_scales[g]);
      }
      args.c[i * args.ldc + j] = acc;
    }
  }
}

}  // namespace fp4moe::kernels
