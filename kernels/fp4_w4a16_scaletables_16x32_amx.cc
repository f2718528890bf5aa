// A compared variant of fp4_w4a16_32x32_amx (never dispatched; microkernel_test checks it,
// gemm_benchmark names it): products of at most 32 rows with E4M3 or E8M0 scales and k a
// multiple of 64 decode each weight row by tables of code x scale into the tiles' first
// operand (kernels/e2m1_w4a16_amx_tables.h), 32 columns of C at a time (16 above 16 rows);
// others run the panel driver as the kernel does.
#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/e2m1_w4a16_amx_tables.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"

namespace fp4moe::kernels {

void FP4MOE_MICROKERNEL(fp4_w4a16_scaletables_16x32_amx)(const GemmArgs& args, int64_t n_begin,
                                                         int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    constexpr ScaleKind kKind = decltype(kind)::value;
    using F = E2m1<kKind, /*kHalf=*/false>;
    MultiplyE2m1W4a16AmxTables<F, kKind>(args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
