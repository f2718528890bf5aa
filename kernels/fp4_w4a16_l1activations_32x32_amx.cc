// A compared variant of fp4_w4a16_32x32_amx (never dispatched; microkernel_test checks it,
// gemm_benchmark and moe_benchmark name it): the panel schedule walks the column blocks in
// passes of 256 k (DefaultSchedule::kPassK), so that a row block's activations stay in L1 and
// only the weights come from L2: on the Xeon, 2 x 2 tile steps with both operands from L2 ran
// at about half the rate of the products alone on 16 threads (docs/performance-log.md).
#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/e2m1_w4a16_amx_tables.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"
#include "kernels/w4a16_amx_driver.h"

namespace fp4moe::kernels {

void FP4MOE_MICROKERNEL(fp4_w4a16_l1activations_32x32_amx)(const GemmArgs& args, int64_t n_begin,
                                                           int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    constexpr ScaleKind kKind = decltype(kind)::value;
    MultiplyE2m1W4a16AmxTables<E2m1<kKind, /*kHalf=*/false>, kKind, /*kRowBlocks=*/false,
                               L1ActivationsSchedule>(args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
