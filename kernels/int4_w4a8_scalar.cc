// INT4 K2 weights x int8 activations, plain C++: the semantics every int4_w4a8 kernel matches.
// Each group of G products sums exactly in int32 and is scaled by (weight group scale *
// activation group scale).
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/scalar_helpers.h"

namespace fp4moe::kernels {

void int4_w4a8_scalar(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  // The nibble is two's complement; an output scale of 1 is exact.
  Int8BlockGemm(
      args, n_begin, n_end, [](uint8_t nibble) { return (nibble ^ 8) - 8; }, 1.0f);
}

}  // namespace fp4moe::kernels
