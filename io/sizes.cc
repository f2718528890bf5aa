#include "io/sizes.h"

#include "absl/strings/str_format.h"
#include "files/out_of_memory.h"
#include "kernels/cpu_features.h"

namespace fp4moe::io {

std::optional<int64_t> CheckedProduct(absl::Span<const int64_t> factors) {
  int64_t product = 1;
  for (int64_t f : factors) {
    if (__builtin_mul_overflow(product, f, &product)) return std::nullopt;
  }
  return product;
}

absl::Status CheckFitsMemory(std::string_view what, int64_t count, int64_t element_bytes) {
  const std::optional<int64_t> product = CheckedProduct({count, element_bytes});
  if (!product) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: %d elements of %d bytes overflow 64 bits", what, count, element_bytes));
  }
  const int64_t bytes = *product;
  const double memory = static_cast<double>(kernels::PhysicalMemoryBytes());
  if (memory == 0 || static_cast<double>(bytes) <= memory) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrFormat("%s: needs %d bytes (%.1f GB) in memory, more than this machine's %.1f GB",
                      what, bytes, bytes / 1e9, memory / 1e9));
}

std::string AllocatingBytes(std::string_view what, int64_t bytes) {
  return files::StrFormatOrBadAlloc("%s: allocating %d bytes (%.1f GB)", what, bytes, bytes / 1e9);
}

absl::Status OutOfMemoryError(std::string_view what, int64_t bytes) {
  try {
    return files::OutOfMemoryError(AllocatingBytes(what, bytes));
  } catch (const std::bad_alloc&) {
    return files::OutOfMemoryErrorAllocatingNothing();
  }
}

}  // namespace fp4moe::io
