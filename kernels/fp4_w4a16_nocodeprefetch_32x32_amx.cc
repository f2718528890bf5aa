// A compared variant of fp4_w4a16_32x32_amx (never dispatched; microkernel_test checks it,
// gemm_benchmark and moe_benchmark name it): the codes of the panel after the next are not
// prefetched (its decode reads them as the hardware prefetchers bring them). Without all its
// software prefetches the panel driver ran 2048 x 7168, m = 128 on 16 threads in 0.409 ms
// against 0.518 in one call on the Xeon (docs/performance-log.md): which of the two costs.
#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/e2m1_w4a16_amx_tables.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"
#include "kernels/w4a16_amx_driver.h"

namespace fp4moe::kernels {
namespace {

struct NoCodePrefetch : DefaultSchedule {
  static constexpr bool kPrefetchCodes = false;
};

}  // namespace

void FP4MOE_MICROKERNEL(fp4_w4a16_nocodeprefetch_32x32_amx)(const GemmArgs& args, int64_t n_begin,
                                                            int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    constexpr ScaleKind kKind = decltype(kind)::value;
    MultiplyE2m1W4a16AmxTables<E2m1<kKind, /*kHalf=*/false>, kKind, /*kRowBlocks=*/false,
                               NoCodePrefetch>(args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
