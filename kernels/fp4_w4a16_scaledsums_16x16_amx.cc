// A compared variant of fp4_w4a16_32x32_amx (never dispatched; microkernel_test checks it,
// gemm_benchmark names it): products of at most 16 rows multiply the E2M1 code values on the
// tiles, one 16-k block per tile product, and scale each block's sums in float
// (kernels/w4a16_amx_sums_driver.h); more rows run the panel driver as the kernel does. Only
// for E4M3 and E8M0 scales, whose products with the codes are exact in BF16, so that scaling
// the sums instead gives the path's weights; float32 scales (rounded to BF16 with the code, as
// the path's reference rounds them) take the kernel's own decode.
#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"
#include "kernels/w4a16_amx_driver.h"
#include "kernels/w4a16_amx_sums_driver.h"

namespace fp4moe::kernels {

void FP4MOE_MICROKERNEL(fp4_w4a16_scaledsums_16x16_amx)(const GemmArgs& args, int64_t n_begin,
                                                        int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    using F = E2m1<decltype(kind)::value, /*kHalf=*/false>;
    if constexpr (decltype(kind)::value == ScaleKind::kFloat32) {
      MultiplyW4a16Amx<F>(args, n_begin, n_end);
    } else {
      MultiplyW4a16AmxScaledSums<F>(args, n_begin, n_end);
    }
  });
}

}  // namespace fp4moe::kernels
