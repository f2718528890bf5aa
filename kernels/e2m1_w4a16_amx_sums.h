#ifndef FP4MOE_KERNELS_E2M1_W4A16_AMX_SUMS_H_
#define FP4MOE_KERNELS_E2M1_W4A16_AMX_SUMS_H_

// The E2M1 formats on the scaled-sums driver (kernels/w4a16_amx_sums_driver.h), shared by its
// compared variants: only E4M3 and E8M0 scales, whose products with the codes are exact in
// BF16, so that scaling the sums instead gives the path's weights; float32 scales (rounded to
// BF16 with the code, as the path's reference rounds them) take the kernel's own decode. In an
// anonymous namespace, as the drivers.

#include <cstdint>

#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/microkernel.h"
#include "kernels/tile_dispatch.h"
#include "kernels/w4a16_amx_driver.h"
#include "kernels/w4a16_amx_sums_driver.h"

namespace fp4moe::kernels {
namespace {

// C[0:m, n_begin:n_end] for E2M1 weights, the codes and scales of products of at most 16 rows
// prefetched kPrefetchSteps decode steps ahead.
template <int kPrefetchSteps>
void MultiplyE2m1ScaledSums(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    using F = E2m1<decltype(kind)::value, /*kHalf=*/false>;
    if constexpr (decltype(kind)::value == ScaleKind::kFloat32) {
      MultiplyW4a16Amx<F>(args, n_begin, n_end);
    } else {
      MultiplyW4a16AmxScaledSums<F, kPrefetchSteps>(args, n_begin, n_end);
    }
  });
}

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_E2M1_W4A16_AMX_SUMS_H_
