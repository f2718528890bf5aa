// E2M1 weights x BF16 activations on AMX-BF16: products of at most 16 rows with E4M3 or E8M0
// scales and k a multiple of 64 decode each weight row through tables of code x scale into the
// tiles' first operand (kernels/e2m1_w4a16_amx_tables.h); the others run the W4A16 AMX driver
// (kernels/w4a16_amx_driver.h) with the E2M1 panel decoder (kernels/e2m1_w4a16_amx_decoder.h).
// Both give the same BF16 weights, products in float.
#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/e2m1_w4a16_amx_tables.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"

namespace fp4moe::kernels {

void FP4MOE_MICROKERNEL(fp4_w4a16_32x32_amx)(const GemmArgs& args, int64_t n_begin,
                                             int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    constexpr ScaleKind kKind = decltype(kind)::value;
    MultiplyE2m1W4a16AmxTables<E2m1<kKind, /*kHalf=*/false>, kKind>(args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
