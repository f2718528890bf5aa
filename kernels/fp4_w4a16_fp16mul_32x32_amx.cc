// A compared variant of fp4_w4a16_32x32_amx (never dispatched; microkernel_test checks it,
// gemm_benchmark names it): E4M3-scaled weights (NVFP4) decoded by FP16 products, 32 weights
// per vmulph where float products take 16 per multiply (7 vector uops per 32 weights against 8).
#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"
#include "kernels/w4a16_amx_driver.h"

namespace fp4moe::kernels {

void FP4MOE_MICROKERNEL(fp4_w4a16_fp16mul_32x32_amx)(const GemmArgs& args, int64_t n_begin,
                                                     int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    MultiplyW4a16Amx<E2m1<decltype(kind)::value, /*kHalf=*/true>>(args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
