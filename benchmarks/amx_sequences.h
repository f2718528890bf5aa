#ifndef FP4MOE_BENCHMARKS_AMX_SEQUENCES_H_
#define FP4MOE_BENCHMARKS_AMX_SEQUENCES_H_

// What the tile sequences of //benchmarks:amx_sequence_benchmark share (its two files:
// amx_sequence_benchmark.cc, amx_driver_sequences.cc): each iteration runs kStepsPerIteration
// steps of kProductsPerStep tile products (a 2 x 2 block).

#include "benchmark/benchmark.h"
#include "kernels/aligned_buffer.h"

namespace fp4moe::kernels {

inline constexpr int kStepsPerIteration = 256;
inline constexpr int kProductsPerStep = 4;

// `operands` filled as the products sequence's <fill> says: 0 or 1 every byte that value, 2
// random (BF16 in [-1, 1] where `bf16`, else any byte).
void FillOperands(int fill, bool bf16, AlignedBuffer& operands);

// TOPS (all threads) and ns_per_product (per thread: elapsed time over its products) for a run
// of kStepsPerIteration steps of kProductsPerStep products per iteration.
void SetProductCounters(benchmark::State& state, double ops_per_product);

// The thread counts a sequence runs on (1, 2, 8, 16), timed by the clock.
void Threads(benchmark::internal::Benchmark* b);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_BENCHMARKS_AMX_SEQUENCES_H_
