// E2M1 weights x int8 activations, plain C++: the semantics every fp4_w4a8 kernel matches.
// Weights decode to int8 as 2 x value (-12..12), so a block's products sum exactly in int32;
// each block's sum is scaled by (weight block scale * activation group scale), and the row's
// float sum by 0.5 * tensor_scale.
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/scalar_helpers.h"

namespace fp4moe::kernels {
namespace {

constexpr int kDoubledE2M1[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

}  // namespace

void fp4_w4a8_scalar(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  Int8BlockGemm(
      args, n_begin, n_end, [](uint8_t code) { return kDoubledE2M1[code]; },
      0.5f * args.b.tensor_scale);
}

}  // namespace fp4moe::kernels
