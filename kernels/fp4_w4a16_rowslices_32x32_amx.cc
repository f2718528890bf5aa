// A compared variant of fp4_w4a16_32x32_amx (never dispatched; microkernel_test checks it,
// gemm_benchmark names it): products of more than 32 rows take each row block's activations in
// slices of 256 k that stay in L1 while the chunk's column blocks multiply them, the block sums
// moved through an L1 buffer once per slice (see MultiplyRowBlockInSlices).
#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"
#include "kernels/w4a16_amx_driver.h"

namespace fp4moe::kernels {
namespace {

struct RowSlices : DefaultSchedule {
  static constexpr int64_t kRowSliceK = 256;
};

}  // namespace

void FP4MOE_MICROKERNEL(fp4_w4a16_rowslices_32x32_amx)(const GemmArgs& args, int64_t n_begin,
                                                       int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    MultiplyW4a16Amx<E2m1<decltype(kind)::value, /*kHalf=*/false>, RowSlices>(args, n_begin,
                                                                                n_end);
  });
}

}  // namespace fp4moe::kernels
