// E2M1 weights x BF16 activations, plain C++: the semantics every fp4_w4a16 kernel matches.
// Each weight decodes with its block scale to BF16 (exact for E4M3 and E8M0 scales: at most
// 6 significant bits), products accumulate in float32, the row's sum is scaled by tensor_scale.
#include "kernels/block_scale.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/scalar_helpers.h"
#include "quant/bf16.h"
#include "quant/e2m1.h"

namespace fp4moe::kernels {

void fp4_w4a16_scalar(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  const WeightsView& b = args.b;
  const int64_t blocks = b.k / b.block;
  for (int64_t i = 0; i < args.m; ++i) {
    const uint16_t* a = args.a_bf16.values + i * b.k;
    for (int64_t j = n_begin; j < n_end; ++j) {
      const uint8_t* codes = b.codes + j * b.k / 2;
      float acc = 0.0f;
      for (int64_t blk = 0; blk < blocks; ++blk) {
        const float scale = DecodeBlockScale(b.scale_kind, b.scales, j * blocks + blk);
        for (int64_t l = blk * b.block; l < (blk + 1) * b.block; ++l) {
          const float w = RoundToBf16(DecodeE2M1(Nibble(codes, l)) * scale);
          acc += w * Bf16ToFloat(a[l]);
        }
      }
      args.c[i * args.ldc + j] = acc * b.tensor_scale;
    }
  }
}

}  // namespace fp4moe::kernels
