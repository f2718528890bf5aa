#ifndef FP4MOE_MOE_SLICE_COUNT_H_
#define FP4MOE_MOE_SLICE_COUNT_H_

// Internal to moe/: how many slices of a width cover a product's columns, which the forward
// passes, the job scheduling, the workspace's sizing and the down bands all count.

#include <cstdint>

namespace fp4moe::moe {

// The slices of `slice_columns` columns that cover n columns (the last one may be shorter).
inline int SliceCount(int64_t n, int64_t slice_columns) {
  return static_cast<int>((n + slice_columns - 1) / slice_columns);
}

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_SLICE_COUNT_H_
