#ifndef FP4MOE_KERNELS_TILE_LOOPS_H_
#define FP4MOE_KERNELS_TILE_LOOPS_H_

// Pieces of the SIMD microkernels' driver loops that do not depend on the ISA: blocks of rows,
// where a tile's weight rows start, prefetching the next tile's, zero-padded copies of the last
// partial chunk of k.
// ISA-neutral, and in an anonymous namespace like the per-ISA helpers (see
// kernels/microkernel.bzl on the ODR trap): each kernel file gets its own copy.

#include <cstdint>
#include <cstring>

#include "kernels/microkernel.h"

namespace fp4moe::kernels {
namespace {

// block(first row, rows) over m rows in blocks of `row_block` rows, the last one shorter.
template <typename F>
void ForEachRowBlock(int64_t m, int64_t row_block, F&& block) {
  for (int64_t first_row = 0; first_row < m; first_row += row_block) {
    block(first_row, m - first_row < row_block ? m - first_row : row_block);
  }
}

// Where kColumns rows of B (columns of C) from `first_column` start: their codes, and their
// block scales of `scale_bytes` bytes each.
template <int kColumns>
struct WeightColumns {
  WeightColumns(const WeightsView& b, int64_t first_column, int64_t scale_bytes) {
    const int64_t code_bytes = b.k / 2;
    const int64_t row_scale_bytes = b.k / b.block * scale_bytes;
    for (int col = 0; col < kColumns; ++col) {
      codes[col] = b.codes + (first_column + col) * code_bytes;
      scales[col] = b.scales + (first_column + col) * row_scale_bytes;
    }
  }

  const uint8_t* codes[kColumns];
  const uint8_t* scales[kColumns];
};

// The codes of the weight rows of the column tile after [first_column, first_column +
// kColumns), up to n_end, prefetched into L2 line by line as the current tile walks its rows:
// with short rows (k = 2048 is 16 lines) the hardware prefetcher has no time to ramp up before
// a row ends, and the decode kernels fall well below DRAM bandwidth on [7168, 2048].
template <int kColumns>
class NextRowsPrefetch {
 public:
  NextRowsPrefetch(const WeightsView& b, int64_t first_column, int64_t n_end)
      : row_bytes_(b.k / 2) {
    const int64_t next = first_column + kColumns;
    rows_ = n_end - next < kColumns ? static_cast<int>(n_end > next ? n_end - next : 0)
                                    : kColumns;
    first_ = rows_ > 0 ? b.codes + next * row_bytes_ : nullptr;
  }

  // Bytes [offset, offset + bytes) of each next row: the span the current tile's step reads
  // of its own rows, every 64-byte line of it.
  void At(int64_t offset, int64_t bytes) const {
    for (int row = 0; row < rows_; ++row) {
      for (int64_t line = 0; line < bytes; line += 64) {
        __builtin_prefetch(first_ + row * row_bytes_ + offset + line, 0, 1);
      }
    }
  }

 private:
  int64_t row_bytes_;
  int rows_ = 0;
  const uint8_t* first_ = nullptr;
};

// Whether the SIMD INT4 kernels take groups of `group` k: their steps (128 k on AVX2, 512 on
// AVX-512) then either hold whole groups or lie in one, and every lane of 16 or 32 k takes one
// group's scale at the same place in every step. Other group sizes (the format takes any
// divisor of k) go to the scalar kernel.
constexpr bool Int4GroupFitsSteps(int64_t group) {
  return group % 32 == 0 && (512 % group == 0 || group % 512 == 0);
}

// `values`, or where fewer than kCount are left (`count`), their copy zero-padded to kCount in
// `padded`: full-width vector loads then read nothing past the end of a row.
template <typename T, int64_t kCount>
const T* ZeroPaddedIfShort(const T* values, int64_t count, T (&padded)[kCount]) {
  if (count >= kCount) return values;
  std::memset(padded, 0, sizeof padded);
  std::memcpy(padded, values, count * sizeof(T));
  return padded;
}

// The last, partial chunk of a row of codes and of its scales, copied into zero padding so
// that nothing past the row is read: zero codes and zero scales add nothing (and the
// activations there are zero too).
template <int64_t kCodeBytes, int64_t kScaleBytes>
struct PaddedChunk {
  PaddedChunk() = default;
  PaddedChunk(const uint8_t* from_codes, int64_t code_bytes, const uint8_t* from_scales,
              int64_t scale_bytes) {
    Copy(from_codes, code_bytes, from_scales, scale_bytes);
  }

  void Copy(const uint8_t* from_codes, int64_t code_bytes, const uint8_t* from_scales,
            int64_t scale_bytes) {
    std::memcpy(codes, from_codes, code_bytes);
    std::memcpy(scales, from_scales, scale_bytes);
  }

  alignas(64) uint8_t codes[kCodeBytes] = {};
  alignas(64) uint8_t scales[kScaleBytes] = {};
};

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_TILE_LOOPS_H_
