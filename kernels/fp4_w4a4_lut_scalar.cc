// E2M1 weights x E2M1 activations, plain C++: the semantics every fp4_w4a4_lut kernel matches.
// The two 3-bit magnitudes index a 64-entry table of products x 4 (integers 0..144, 19
// distinct), the sign is the XOR of the sign bits, each 16-element block sums in int32 and is
// scaled by both block scales; the row's float sum by 0.25 and both tensor scales.
#include "kernels/block_scale.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/scalar_helpers.h"

namespace fp4moe::kernels {
namespace {

constexpr int kDoubledMagnitude[8] = {0, 1, 2, 3, 4, 6, 8, 12};  // 2 x E2M1 magnitude

int32_t ProductTimesFour(uint8_t w, uint8_t a) {
  const int32_t magnitude = kDoubledMagnitude[w & 7] * kDoubledMagnitude[a & 7];
  return ((w ^ a) & 8) ? -magnitude : magnitude;
}

}  // namespace

void fp4_w4a4_lut_scalar(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  const WeightsView& b = args.b;
  const int64_t blocks = b.k / b.block;
  for (int64_t i = 0; i < args.m; ++i) {
    const uint8_t* a = args.a_fp4.codes + i * b.k / 2;
    for (int64_t j = n_begin; j < n_end; ++j) {
      const uint8_t* w = b.codes + j * b.k / 2;
      float acc = 0.0f;
      for (int64_t blk = 0; blk < blocks; ++blk) {
        int32_t sum = 0;
        for (int64_t l = blk * b.block; l < (blk + 1) * b.block; ++l) {
          sum += ProductTimesFour(Nibble(w, l), Nibble(a, l));
        }
        acc += static_cast<float>(sum) *
               (DecodeBlockScale(b.scale_kind, b.scales, j * blocks + blk) *
                DecodeBlockScale(ScaleKind::kE4M3, args.a_fp4.scales, i * blocks + blk));
      }
      args.c[i * args.ldc + j] = acc * (0.25f * b.tensor_scale * args.a_fp4.tensor_scale);
    }
  }
}

}  // namespace fp4moe::kernels
