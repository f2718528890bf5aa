// INT4 K2 weights x BF16 activations, plain C++: the semantics every int4_w4a16 kernel matches.
// Each weight decodes with its group's BF16 scale to BF16 (q x s rounded to nearest even:
// within 2^-8 relative, BF16's unit roundoff, q x s having up to 11 significant bits), products accumulate in float32.
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/scalar_helpers.h"

namespace fp4moe::kernels {

void int4_w4a16_scalar(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  // The nibble is two's complement.
  Bf16WeightGemm(args, n_begin, n_end,
                 [](uint8_t nibble) { return static_cast<float>((nibble ^ 8) - 8); });
}

}  // namespace fp4moe::kernels
