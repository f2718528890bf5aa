#ifndef FP4MOE_KERNELS_GEMM_H_
#define FP4MOE_KERNELS_GEMM_H_

#include <cstdint>

#include "absl/status/status.h"
#include "kernels/buffers.h"
#include "kernels/microkernel.h"

namespace fp4moe::kernels {

// Columns a thread slice starts on: slices of N are multiples of this, so every kernel's
// column tile (at most 64) stays within one slice.
inline constexpr int64_t kSliceColumns = 64;

// C[rows, slice] = A[rows, 0:k] * B[slice, 0:k]^T with `kernel`, for thread `ith` of `nth`:
// N is cut into nth slices of whole kSliceColumns columns (callers such as the MoE operator or
// an OpenMP loop run every ith). The same rows of A and C: products that share the buffers
// each take their own rows. group_size is the block of B's scales, which A was quantized with.
// Shapes, rows, group size and the kernel's path are checked against the buffers.
absl::Status Gemm(const Microkernel& kernel, RowRange rows, int64_t n, int64_t k,
                  int64_t group_size, const BufferA& a, const BufferB& b, BufferC& c, int ith,
                  int nth);
// The same into a window of C, which must hold the slice's columns and the rows.
absl::Status Gemm(const Microkernel& kernel, RowRange rows, int64_t n, int64_t k,
                  int64_t group_size, const BufferA& a, const BufferB& b,
                  const OutputWindow& c, int ith, int nth);

// The same on rows [0, m).
inline absl::Status Gemm(const Microkernel& kernel, int64_t m, int64_t n, int64_t k,
                         int64_t group_size, const BufferA& a, const BufferB& b, BufferC& c,
                         int ith, int nth) {
  return Gemm(kernel, RowRange{0, m}, n, k, group_size, a, b, c, ith, nth);
}

// The [begin, end) columns of thread ith of nth.
std::pair<int64_t, int64_t> ThreadSlice(int64_t n, int ith, int nth);

// The path's weights family: E2M1 codes, or INT4.
bool PathTakesFormat(GemmPath path, WeightFormat format);

// Whether the path multiplies BF16 activations (W4A16 of either weights family).
bool TakesBf16Activations(GemmPath path);

// Whether the kernel loads its activation tiles from a BufferA's tile order where it is given
// (the W4A16 AMX kernels; they pack the rows themselves otherwise): the `tile_order` to create
// its BufferA with.
bool ReadsTileOrder(const Microkernel& kernel);

// Whether the kernel reads a BufferA's column windows (Bf16ActivationsView; it packs the same
// tiles itself otherwise): the `column_windows` to create its BufferA with.
bool ReadsColumnWindows(const Microkernel& kernel);

// Whether the kernel reads a BufferB's row blocks (WeightsView::row_block_codes; it reads the
// rows otherwise): whether to give it BufferB::WithRowBlocks.
bool ReadsRowBlocks(const Microkernel& kernel);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_GEMM_H_
