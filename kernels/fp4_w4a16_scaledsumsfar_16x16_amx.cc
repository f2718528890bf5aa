// A compared variant of fp4_w4a16_scaledsums_16x16_amx (never dispatched; microkernel_test
// checks it, gemm_benchmark names it): the same scaled block sums, with the codes and scales
// prefetched 16 decode steps ahead (1 KB of each code row) instead of 4 (256 bytes). On 16
// threads that variant's per-thread gain did not reach the 16-thread time, and its short
// prefetch distance over the 16 code rows of a tile is one suspect.
#include "kernels/e2m1_w4a16_amx_sums.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {

void FP4MOE_MICROKERNEL(fp4_w4a16_scaledsumsfar_16x16_amx)(const GemmArgs& args, int64_t n_begin,
                                                           int64_t n_end) {
  MultiplyE2m1ScaledSums<16>(args, n_begin, n_end);
}

}  // namespace fp4moe::kernels
