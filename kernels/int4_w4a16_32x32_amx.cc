// INT4 K2 weights x BF16 activations on AMX-BF16, for many rows: the W4A16 AMX driver
// (kernels/w4a16_amx_driver.h) with an INT4 panel decoder. Each weight is decoded with its
// group's BF16 scale and rounded to BF16 (q x s has up to 11 significant bits: within 2^-8
// relative, BF16's unit roundoff), so the tiles sum over the whole k block with no per-group
// work, where the INT8 tiles of int4_w4a8 scale every group's sums in float. Groups that are
// not a multiple of 16 (the format takes any divisor of k) go to the scalar kernel.
#include <cstdint>

#include "kernels/int4_w4a16_amx_decoder.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/w4a16_amx_driver.h"

namespace fp4moe::kernels {

void FP4MOE_MICROKERNEL(int4_w4a16_32x32_amx)(const GemmArgs& args, int64_t n_begin,
                                                int64_t n_end) {
  if (args.b.block % 16 != 0) {
    int4_w4a16_scalar(args, n_begin, n_end);
    return;
  }
  MultiplyW4a16Amx<Int4>(args, n_begin, n_end);
}

}  // namespace fp4moe::kernels
