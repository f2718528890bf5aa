#ifndef FP4MOE_KERNELS_PROBE_CHAINS_H_
#define FP4MOE_KERNELS_PROBE_CHAINS_H_

// The loops of the machine probes (kernels/vector_probe.h, kernels/peak_probe.h), in files built
// with their ISA's flags and run only where cpuid says so: independent chains of one vector
// instruction kind, enough of them in flight to keep every port that runs it busy, `iterations`
// steps. Each returns what its chains reached, which proves the work was done (a test recomputes
// it from the formulas below).

#include <cstdint>

namespace fp4moe::kernels {

// kFmaChains chains of 8-lane FMAs, x <- x * 0.999 + 0.001 from x = 1 + chain / 8: the sum of
// all lanes. The AVX2 FP32 rate, and the vector probe's unit.
inline constexpr int kFmaChains = 10;
inline constexpr int kFmaLanes = 8;
float FmaChainsAvx2(int64_t iterations);

// kInt8DotChainsAvx2 chains of 8 uint32 lanes, as the AVX2 int8 kernels multiply: two
// vpmaddubsw of the lane's bytes (unsigned) by 1 and by 2 (signed), their int16 sums added,
// vpmaddwd by 1, added to the lane: v <- v + 3 x (sum of v's 4 bytes), mod 2^32, from v = chain
// + 1. Returns the sum of all lanes mod 2^32. 64 multiply-adds per chain and step.
inline constexpr int kInt8DotChainsAvx2 = 10;
double Int8DotChainsAvx2(int64_t iterations);

// kDotChainsAvx512 chains of 16 lanes for each of AVX-512's dot products:
// - vpdpbusd (VNNI) of bytes 1 (unsigned) by 2 (signed): an int32 lane gains 8 a step, from
//   chain; the sum of all lanes mod 2^32. 64 multiply-adds per chain and step.
// - vdpbf16ps of BF16 2^-6 by 2^-6: a float lane gains 2^-11 a step, from chain (exact for
//   2^19 steps); the sum of all lanes. 32 multiply-adds per chain and step.
inline constexpr int kDotChainsAvx512 = 12;
double Int8DotChainsAvx512(int64_t iterations);
double Bf16DotChainsAvx512(int64_t iterations);

// 2 x 2 blocks of AMX tile products (4 products, each 16 x 16 sums over 64 bytes of k: 32 BF16
// or 64 int8 pairs) on operand tiles loaded once, `blocks` times; the first sum (of zeros).
double Bf16TileBlocksAmx(int64_t blocks);
double Int8TileBlocksAmx(int64_t blocks);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_PROBE_CHAINS_H_
