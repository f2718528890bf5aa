#ifndef FP4MOE_IO_SAFETENSORS_HEADER_H_
#define FP4MOE_IO_SAFETENSORS_HEADER_H_

// The safetensors format's rules for a file's JSON header, checked while it is parsed.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "io/safetensors.h"

namespace fp4moe::io {

// The header key that holds the file's metadata rather than a tensor.
constexpr std::string_view kMetadataKey = "__metadata__";

// The reference implementation's limit on the header's length, which bounds what parsing it
// may cost.
constexpr int64_t kMaxHeaderBytes = 100'000'000;

struct SafetensorsHeader {
  std::map<std::string, std::string> metadata;
  std::map<std::string, TensorView, std::less<>> tensors;  // bytes point into the data section
};

// Parses `header` (the JSON text) for the data section `data` and refuses anything the format
// does not allow: the header is an object that begins with '{' (trailing whitespace allowed);
// its values are tensor entries {"dtype": one of ParseDtype's, "shape": [non-negative
// integers], "data_offsets": [begin, end]} with exactly these keys, and at most one
// "__metadata__", an object of string values; no key appears twice at any level; end - begin
// is numel x the dtype's size (no overflow), and the tensors' ranges tile `data` exactly (no
// gap, no overlap, no trailing bytes). Anything nested deeper than that is refused at its first
// bracket, so any nesting costs constant stack; the cost is O(n log n) in the tensors.
// Errors are InvalidArgument naming `path` and, where one is at fault, the tensor.
absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view header,
                                                         absl::Span<const uint8_t> data,
                                                         const std::string& path);

}  // namespace fp4moe::io

#endif  // FP4MOE_IO_SAFETENSORS_HEADER_H_
