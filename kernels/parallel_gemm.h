#ifndef FP4MOE_KERNELS_PARALLEL_GEMM_H_
#define FP4MOE_KERNELS_PARALLEL_GEMM_H_

// One GEMM on an OpenMP team, for callers that run a single product (the GEMM benchmark, the
// sweeps): the columns in slices handed out as threads finish. An even split of the columns,
// one slice a thread, ends with the slowest thread, and on the lent Xeon one vCPU often runs at
// half the others' speed: slices of one 128-column chunk, handed out, ran the W4A16 AMX kernel
// 20 to 40% faster there on 7168 x 2048 and 16384 x 7168 (docs/performance-log.md). Narrower
// slices would stream the activations more often (the driver reads them once per chunk), so a
// slice is a chunk where there are more chunks than threads; where there are not, each thread
// takes one slice (of whole column tiles), as the even split does.

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/buffers.h"
#include "kernels/gemm.h"
#include "kernels/microkernel.h"

namespace fp4moe::kernels {

// Columns of one slice at most: two column tiles, the W4A16 AMX driver's chunk.
inline constexpr int64_t kParallelSliceColumns = 2 * kSliceColumns;

// The slices ParallelGemm cuts n columns into for `threads` threads: one per
// kParallelSliceColumns columns, but at least one per thread and at most one per column tile.
int ParallelSlices(int64_t n, int threads);

// C[0:m] = A[0:m] B^T with `kernel` on `threads` OpenMP threads (0: the team's default), the
// columns in `slices` slices (0: ParallelSlices') handed out as threads finish; the first error
// of any slice (the shapes' errors are every slice's).
absl::Status ParallelGemm(const Microkernel& kernel, int64_t m, int64_t n, int64_t k,
                          int64_t group_size, const BufferA& a, const BufferB& b, BufferC& c,
                          int threads = 0, int slices = 0);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_PARALLEL_GEMM_H_
