#ifndef FP4MOE_KERNELS_FMA_CHAINS_H_
#define FP4MOE_KERNELS_FMA_CHAINS_H_

// The loop of the vector-throughput probe (kernels/vector_probe.h), alone in a file built with
// AVX2 flags: kFmaChains independent chains of 8-lane FMAs, x <- x * 0.999 + 0.001 from x = 1 +
// chain / 8, `iterations` times, enough chains in flight to keep every FMA port busy. Returns
// the sum of all lanes, which proves the work was done (a test recomputes it).

#include <cstdint>

namespace fp4moe::kernels {

inline constexpr int kFmaChains = 10;
inline constexpr int kFmaLanes = 8;

float FmaChainsAvx2(int64_t iterations);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_FMA_CHAINS_H_
