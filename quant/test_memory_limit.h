#ifndef FP4MOE_QUANT_TEST_MEMORY_LIMIT_H_
#define FP4MOE_QUANT_TEST_MEMORY_LIMIT_H_

// For tests of what runs out of memory under a process limit, as `ulimit -v` sets one.

#include <cstdint>
#include <functional>

#include "absl/status/status.h"

namespace fp4moe {

// Runs `run` with the process's address space (RLIMIT_AS) limited to what it maps now plus
// `extra_bytes`, and restores the limit after; an error where the limit cannot be read or set.
// (Not under ASan, whose failed allocations abort instead of throwing std::bad_alloc.)
absl::Status RunUnderMemoryLimit(int64_t extra_bytes, const std::function<void()>& run);

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_TEST_MEMORY_LIMIT_H_
