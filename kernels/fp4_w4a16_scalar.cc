// E2M1 weights x BF16 activations, plain C++: the semantics every fp4_w4a16 kernel matches.
// Each weight decodes with its block scale to BF16 (exact for E4M3 and E8M0 scales: at most
// 6 significant bits), products accumulate in float32, the row's sum is scaled by tensor_scale.
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/scalar_helpers.h"
#include "quant/e2m1.h"

namespace fp4moe::kernels {

void fp4_w4a16_scalar(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  Bf16WeightGemm(args, n_begin, n_end, [](uint8_t code) { return DecodeE2M1(code); });
}

}  // namespace fp4moe::kernels
