// A compared variant of int4_w4a16_32x32_amx (never dispatched; microkernel_test checks it,
// gemm_benchmark names it): products of at most 16 rows multiply the INT4 values on the tiles,
// one group of 32 k per tile product (16 k for groups of an odd multiple of 16), and scale each
// group's sums by its BF16 scale in float (kernels/w4a16_amx_sums_driver.h): the weights are
// q x s unrounded, where the path rounds them to BF16, so the two differ by up to 2^-9 of each
// weight. More rows run the panel driver as the kernel does; groups that are not a multiple of
// 16 go to the scalar kernel.
#include "kernels/int4_w4a16_amx_decoder.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/w4a16_amx_driver.h"
#include "kernels/w4a16_amx_sums_driver.h"

namespace fp4moe::kernels {

void FP4MOE_MICROKERNEL(int4_w4a16_scaledsums_16x16_amx)(const GemmArgs& args, int64_t n_begin,
                                                         int64_t n_end) {
  if (args.b.block % 16 != 0) {
    int4_w4a16_scalar(args, n_begin, n_end);
    return;
  }
  MultiplyW4a16AmxScaledSums<Int4>(args, n_begin, n_end);
}

}  // namespace fp4moe::kernels
