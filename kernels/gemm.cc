#include "kernels/gemm.h"

#include <algorithm>
#include <new>

#include "absl/strings/str_format.h"
#include "files/out_of_memory.h"
#include "kernels/microkernel_table.h"

namespace fp4moe::kernels {

bool PathTakesFormat(GemmPath path, WeightFormat format) {
  const bool int4 = format == WeightFormat::kInt4K2;
  return (path == GemmPath::kInt4W4A8 || path == GemmPath::kInt4W4A16) == int4;
}

bool TakesBf16Activations(GemmPath path) {
  return path == GemmPath::kFp4W4A16 || path == GemmPath::kInt4W4A16;
}

bool ReadsTileOrder(const Microkernel& kernel) {
  return kernel.isa == Isa::kAmx && TakesBf16Activations(kernel.path);
}

bool ReadsColumnWindows(const Microkernel& kernel) { return kernel.reads_column_windows; }

bool ReadsRowBlocks(const Microkernel& kernel) { return kernel.reads_row_blocks; }

std::pair<int64_t, int64_t> ThreadSlice(int64_t n, int ith, int nth) {
  const int64_t tiles = (n + kSliceColumns - 1) / kSliceColumns;
  const int64_t begin = std::min(n, tiles * ith / nth * kSliceColumns);
  const int64_t end = std::min(n, tiles * (ith + 1) / nth * kSliceColumns);
  return {begin, end};
}

absl::Status Gemm(const Microkernel& kernel, RowRange rows, int64_t n, int64_t k,
                  int64_t group_size, const BufferA& a, const BufferB& b, BufferC& c, int ith,
                  int nth) {
  if (n > c.n()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "gemm %s: n=%d does not fit C [%d, %d]", kernel.name, n, c.max_m(), c.n()));
  }
  return Gemm(kernel, rows, n, k, group_size, a, b, c.Window(), ith, nth);
}

absl::Status Gemm(const Microkernel& kernel, RowRange rows, int64_t n, int64_t k,
                  int64_t group_size, const BufferA& a, const BufferB& b,
                  const OutputWindow& c, int ith, int nth) {
  if (a.path() != kernel.path) {
    return absl::InvalidArgumentError(
        absl::StrFormat("gemm %s: activations were prepared for path %s", kernel.name,
                        PathName(a.path())));
  }
  if (!PathTakesFormat(kernel.path, b.format())) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "gemm %s: weights in %s do not suit path %s", kernel.name, TraitsOf(b.format()).name,
        PathName(kernel.path)));
  }
  if (!rows.Within(a.max_m()) || !rows.Within(c.rows) || k != a.k() || k != b.k() ||
      n != b.n()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "gemm %s: m=%d from row %d, n=%d k=%d do not match A [%d, %d], B [%d, %d], C of %d rows",
        kernel.name, rows.count, rows.begin, n, k, a.max_m(), a.k(), b.n(), b.k(), c.rows));
  }
  if (group_size != b.block() ||
      (kernel.path != GemmPath::kFp4W4A4Lut && !TakesBf16Activations(kernel.path) &&
       a.group() != b.block())) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "gemm %s: group size %d, activations grouped by %d, weights by %d: all must agree",
        kernel.name, group_size, a.group(), b.block()));
  }
  if (nth <= 0 || ith < 0 || ith >= nth) {
    return absl::InvalidArgumentError(
        absl::StrFormat("gemm %s: thread %d of %d", kernel.name, ith, nth));
  }
  const auto [begin, end] = ThreadSlice(n, ith, nth);
  if (begin < end && (begin < c.first_column || end > c.end_column)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "gemm %s: columns [%d, %d) of thread %d of %d lie outside C's window [%d, %d)",
        kernel.name, begin, end, ith, nth, c.first_column, c.end_column));
  }
  if (rows.count == 0 || begin >= end) return absl::OkStatus();
  GemmArgs args;
  if (absl::Status s = a.FillArgs(rows, args); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("gemm %s: %s", kernel.name, s.message()));
  }
  args.b = b.view();
  args.c = c.origin + rows.begin * c.ld;
  args.ldc = c.ld;
  // A kernel takes its per-thread scratch at a thread's first call (kernels/thread_scratch.h):
  // under a process memory limit (ulimit -v) that can fail, in the caller's OpenMP region,
  // out of which no exception may propagate.
  try {
    kernel.function(args, begin, end);
  } catch (const std::bad_alloc&) {
    return files::OutOfMemoryErrorAllocatingNothing();
  }
  return absl::OkStatus();
}

}  // namespace fp4moe::kernels
