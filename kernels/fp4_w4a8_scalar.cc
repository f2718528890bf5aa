// E2M1 weights x int8 activations, plain C++: the semantics every fp4_w4a8 kernel matches.
// Weights decode to int8 as 2 x value (-12..12), so a block's products sum exactly in int32;
// each block's sum is scaled by (weight block scale * activation group scale), and the row's
// float sum by 0.5 * tensor_scale.
#include "kernels/block_scale.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"

namespace fp4moe::kernels {
namespace {

constexpr int kDoubledE2M1[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

}  // namespace

void fp4_w4a8_scalar(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  const WeightsView& b = args.b;
  const int64_t blocks = b.k / b.block;
  for (int64_t i = 0; i < args.m; ++i) {
    const int8_t* a = args.a_int8.values + i * b.k;
    const float* a_scales = args.a_int8.scales + i * blocks;
    for (int64_t j = n_begin; j < n_end; ++j) {
      const uint8_t* codes = b.codes + j * b.k / 2;
      float acc = 0.0f;
      for (int64_t blk = 0; blk < blocks; ++blk) {
        int32_t sum = 0;
        for (int64_t l = blk * b.block; l < (blk + 1) * b.block; ++l) {
          const uint8_t code = (codes[l / 2] >> (4 * (l & 1))) & 0xF;
          sum += kDoubledE2M1[code] * a[l];
        }
        acc += static_cast<float>(sum) *
               (DecodeBlockScale(b.scale_kind, b.scales, j * blocks + blk) * a_scales[blk]);
      }
      args.c[i * args.ldc + j] = acc * (0.5f * b.tensor_scale);
    }
  }
}

}  // namespace fp4moe::kernels
