// A compared variant of fp4_w4a16_32x32_amx (never dispatched; microkernel_test checks it,
// gemm_benchmark names it and gives it weights by row blocks): the same scaled-code tables up
// to 16 rows, reading the weights by row blocks (WeightsView::row_block_codes) where the buffer
// keeps them, so that a block of 32 rows is one stream of codes and one of scales rather than
// two per row (the kernel's decode waits on memory from DRAM); else as the kernel. As the MoE
// layer's tile kernel (moe_benchmark --tile_kernels) it gives the experts' weights row blocks
// beside the rows (MoeLayer::UseTileKernel).
#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/e2m1_w4a16_amx_tables.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"

namespace fp4moe::kernels {

void FP4MOE_MICROKERNEL(fp4_w4a16_rowblocks_16x32_amx)(const GemmArgs& args, int64_t n_begin,
                                                       int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    constexpr ScaleKind kKind = decltype(kind)::value;
    MultiplyE2m1W4a16AmxTables<E2m1<kKind, /*kHalf=*/false>, kKind, /*kRowBlocks=*/true>(
        args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
