// A compared variant of fp4_w4a16_32x32_amx (never dispatched; microkernel_test checks it,
// gemm_benchmark names it): every k step of the panel schedule prefetches the A and B tiles of
// the step two ahead into L1. The panels (256 KB) and a row block's packed activations (64 KB)
// outgrow L1, so the kernel's tile loads come from L2, where 2 x 2 steps ran at about 0.55 of
// the tile peak (amx_sequence_benchmark bf16/split; its prefetch argument measures the same
// prefetch on the bare steps). Not yet measured on the Xeon.
#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"
#include "kernels/w4a16_amx_driver.h"

namespace fp4moe::kernels {
namespace {

struct L1Prefetched : DefaultSchedule {
  static constexpr int kL1PrefetchSteps = 2;
};

}  // namespace

void FP4MOE_MICROKERNEL(fp4_w4a16_l1prefetch_32x32_amx)(const GemmArgs& args, int64_t n_begin,
                                                        int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    MultiplyW4a16Amx<E2m1<decltype(kind)::value, /*kHalf=*/false>, L1Prefetched>(
        args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
