// A compared variant of fp4_w4a16_32x32_amx (never dispatched; microkernel_test checks it,
// gemm_benchmark and moe_benchmark name it): the panel schedule issues one 512-bit float
// multiply per tile step (DefaultSchedule::kWarmVectorUnits), to tell whether the tile loads
// run faster while the 512-bit units are busy, as the tile steps beside float work did on some
// Xeon hosts (docs/performance-log.md; built, not yet run on the Xeon).
#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/e2m1_w4a16_amx_tables.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"
#include "kernels/w4a16_amx_driver.h"

namespace fp4moe::kernels {

void FP4MOE_MICROKERNEL(fp4_w4a16_warmvector_32x32_amx)(const GemmArgs& args, int64_t n_begin,
                                                        int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    constexpr ScaleKind kKind = decltype(kind)::value;
    MultiplyE2m1W4a16AmxTables<E2m1<kKind, /*kHalf=*/false>, kKind, /*kRowBlocks=*/false,
                               WarmVectorUnitsSchedule>(args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
