#ifndef FP4MOE_QUANT_VALIDATE_H_
#define FP4MOE_QUANT_VALIDATE_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "quant/matrix.h"

namespace fp4moe {

// OK when `m` is non-empty, its column count is a multiple of `block` and every element is
// finite; otherwise InvalidArgument naming `tensor` and the first offending place.
absl::Status ValidateQuantizable(std::string_view tensor, ConstRowMatrixRef m, int64_t block);

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_VALIDATE_H_
