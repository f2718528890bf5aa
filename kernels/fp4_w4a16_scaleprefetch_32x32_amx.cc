// A compared variant of fp4_w4a16_32x32_amx (never dispatched; microkernel_test checks it,
// gemm_benchmark names it): the next panel's block scales are prefetched beside its codes, so
// that the decode's first reads of them (one line per column every 8 steps) need not wait for
// DRAM.
#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"
#include "kernels/w4a16_amx_driver.h"

namespace fp4moe::kernels {
namespace {

struct ScalesPrefetched : DefaultSchedule {
  static constexpr bool kPrefetchScales = true;
};

}  // namespace

void FP4MOE_MICROKERNEL(fp4_w4a16_scaleprefetch_32x32_amx)(const GemmArgs& args, int64_t n_begin,
                                                           int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    MultiplyW4a16Amx<E2m1<decltype(kind)::value, /*kHalf=*/false>, ScalesPrefetched>(
        args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
