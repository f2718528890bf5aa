#ifndef FP4MOE_IO_SIZES_H_
#define FP4MOE_IO_SIZES_H_

// Sizes that come from files: computed without overflow, and allocations of them refused with
// a message (not std::bad_alloc) when they cannot fit this machine's memory.

#include <cstdint>
#include <new>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "files/out_of_memory.h"

namespace fp4moe::io {

// The product of `factors` (a shape, or a count and an element size), or nullopt when it does
// not fit int64. Factors are non-negative.
std::optional<int64_t> CheckedProduct(absl::Span<const int64_t> factors);

// ResourceExhausted naming `what` when `count` elements of `element_bytes` each overflow 64 bits
// or exceed this machine's physical memory: such an allocation would fail, or succeed only to
// be killed for memory when touched.
absl::Status CheckFitsMemory(std::string_view what, int64_t count, int64_t element_bytes);

// Runs `allocate`, which allocates `count` elements of `element_bytes` for `what`, after
// CheckFitsMemory; a std::bad_alloc it throws anyway (a process memory limit, ulimit -v)
// becomes ResourceExhausted naming `what`.
template <typename Allocate>
absl::Status AllocateChecked(std::string_view what, int64_t count, int64_t element_bytes,
                             Allocate&& allocate);

// ResourceExhausted: "WHAT: allocating BYTES bytes (x GB): out of memory ...", or the message
// naming nothing where building it runs out of memory too (it never throws).
absl::Status OutOfMemoryError(std::string_view what, int64_t bytes);

// Returns step()'s absl::Status or absl::StatusOr; where it throws std::bad_alloc,
// OutOfMemoryError(what(), bytes), `what` (returning a std::string) run only then (see
// files::CatchOutOfMemory).
template <typename What, typename Step>
auto CatchOutOfMemory(const What& what, int64_t bytes, const Step& step) -> decltype(step());

// Implementation.

std::string AllocatingBytes(std::string_view what, int64_t bytes);

template <typename What, typename Step>
auto CatchOutOfMemory(const What& what, int64_t bytes, const Step& step) -> decltype(step()) {
  return files::CatchOutOfMemory([&] { return AllocatingBytes(what(), bytes); }, step);
}

template <typename Allocate>
absl::Status AllocateChecked(std::string_view what, int64_t count, int64_t element_bytes,
                             Allocate&& allocate) {
  if (absl::Status s = CheckFitsMemory(what, count, element_bytes); !s.ok()) return s;
  try {
    allocate();
  } catch (const std::bad_alloc&) {
    return OutOfMemoryError(what, count * element_bytes);
  }
  return absl::OkStatus();
}

}  // namespace fp4moe::io

#endif  // FP4MOE_IO_SIZES_H_
