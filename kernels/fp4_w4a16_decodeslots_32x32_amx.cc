// A compared variant of fp4_w4a16_32x32_amx (never dispatched; microkernel_test checks it,
// gemm_benchmark names it): the kernel as it was before the scaled-code tables, products of at
// most 32 rows decoding each column block's weights into L1 slots (MultiplyFewRows in
// kernels/w4a16_amx_driver.h) where the kernel takes the tables up to 16 rows.
#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"
#include "kernels/w4a16_amx_driver.h"

namespace fp4moe::kernels {

void FP4MOE_MICROKERNEL(fp4_w4a16_decodeslots_32x32_amx)(const GemmArgs& args, int64_t n_begin,
                                                         int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    MultiplyW4a16Amx<E2m1<decltype(kind)::value, /*kHalf=*/false>>(args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
