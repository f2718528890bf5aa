// fp4_w4a16_scaletables_16x32_amx with each table row stored twice, so that the lookup tables
// are put together by masked blends instead of 256-bit inserts (kernels/e2m1_w4a16_amx_tables.h:
// the inserts run on the port the lookups need). A compared variant, as that one.
#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/e2m1_w4a16_amx_tables.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"

namespace fp4moe::kernels {

void FP4MOE_MICROKERNEL(fp4_w4a16_scaletablesblend_16x32_amx)(const GemmArgs& args,
                                                              int64_t n_begin, int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    constexpr ScaleKind kKind = decltype(kind)::value;
    using F = E2m1<kKind, /*kHalf=*/false>;
    MultiplyE2m1W4a16AmxTables<F, kKind, /*kTwice=*/true>(args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
