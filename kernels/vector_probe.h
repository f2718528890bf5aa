#ifndef FP4MOE_KERNELS_VECTOR_PROBE_H_
#define FP4MOE_KERNELS_VECTOR_PROBE_H_

// How much vector throughput the OpenMP threads deliver together, against one thread alone:
// the lent Xeon's 16 vCPUs gave about 8 threads' worth (some share a core, some run slower than
// others), which bounds every kernel that the decode, not the memory, limits. An AVX2 FMA loop
// (kernels/probe_chains.h) on one thread, then on all at once, best of a few passes.

#include <string>

namespace fp4moe::kernels {

struct VectorScaling {
  int threads = 0;              // OpenMP threads that ran at once
  double one_thread = 0;        // 8-lane FMAs per second, one thread alone
  double all_threads = 0;       // the same, all threads together
  double slowest_thread = 0;    // the slowest thread's rate among them
  // How many lone threads' worth all of them give together.
  double ThreadsWorth() const { return one_thread > 0 ? all_threads / one_thread : 0; }
};

// All zero without AVX2. About 20 ms on the Xeon.
VectorScaling MeasureVectorScaling();

// One line for the benchmarks' headers.
std::string VectorScalingLine(const VectorScaling& scaling);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_VECTOR_PROBE_H_
