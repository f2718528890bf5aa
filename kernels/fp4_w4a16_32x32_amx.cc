// E2M1 weights x BF16 activations on AMX-BF16, for many rows: the W4A16 AMX driver
// (kernels/w4a16_amx_driver.h) with the E2M1 decoder (kernels/e2m1_w4a16_amx_decoder.h),
// products in float.
#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"
#include "kernels/w4a16_amx_driver.h"

namespace fp4moe::kernels {

void FP4MOE_MICROKERNEL(fp4_w4a16_32x32_amx)(const GemmArgs& args, int64_t n_begin,
                                             int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    MultiplyW4a16Amx<E2m1<decltype(kind)::value, /*kHalf=*/false>>(args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
