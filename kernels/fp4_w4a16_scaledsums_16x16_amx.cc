// A compared variant of fp4_w4a16_32x32_amx (never dispatched; microkernel_test checks it,
// gemm_benchmark names it): products of at most 16 rows multiply the E2M1 code values on the
// tiles, one 16-k block per tile product, and scale each block's sums in float
// (kernels/w4a16_amx_sums_driver.h); more rows run the panel driver as the kernel does. Only
// for E4M3 and E8M0 scales (kernels/e2m1_w4a16_amx_sums.h).
#include "kernels/e2m1_w4a16_amx_sums.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {

void FP4MOE_MICROKERNEL(fp4_w4a16_scaledsums_16x16_amx)(const GemmArgs& args, int64_t n_begin,
                                                        int64_t n_end) {
  MultiplyE2m1ScaledSums<kSumsPrefetchSteps>(args, n_begin, n_end);
}

}  // namespace fp4moe::kernels
