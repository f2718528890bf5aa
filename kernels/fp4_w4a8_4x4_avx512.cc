// E2M1 weights x int8 activations with AVX-512 VNNI; tiles of 4 rows of A x 4 columns of B
// (the steps: kernels/fp4_w4a8_avx512_steps.h).
#include "kernels/fp4_w4a8_avx512_steps.h"
#include "kernels/int8_tile_driver.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"

namespace fp4moe::kernels {

void FP4MOE_MICROKERNEL(fp4_w4a8_4x4_avx512)(const GemmArgs& args, int64_t n_begin,
                                               int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    MultiplyInt8(Fp4W4a8Avx512<decltype(kind)::value>(), args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
