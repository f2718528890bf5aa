#ifndef FP4MOE_MOE_SLICE_COUNT_H_
#define FP4MOE_MOE_SLICE_COUNT_H_

// Internal to //moe:moe: the one helper that both the forward passes (moe_forward.cc) and the
// job scheduling (moe_jobs.cc) need.

#include <cstdint>

namespace fp4moe::moe {

// The slices of `slice_columns` columns that cover n columns (the last one may be shorter).
inline int SliceCount(int64_t n, int64_t slice_columns) {
  return static_cast<int>((n + slice_columns - 1) / slice_columns);
}

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_SLICE_COUNT_H_
