#ifndef FP4MOE_QUANT_VALIDATE_H_
#define FP4MOE_QUANT_VALIDATE_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "quant/matrix.h"

namespace fp4moe {

// OK when [rows, cols] is non-empty and cols is a multiple of `block`; otherwise
// InvalidArgument naming `tensor`: ValidateQuantizable without the values' check.
absl::Status ValidateBlockShape(std::string_view tensor, int64_t rows, int64_t cols,
                                int64_t block);

// OK when `m` is non-empty, its column count is a multiple of `block` and every element is
// finite; otherwise InvalidArgument naming `tensor` and the first offending place.
absl::Status ValidateQuantizable(std::string_view tensor, ConstRowMatrixRef m, int64_t block);

// OK when every value of `row` [0, cols) is finite; otherwise InvalidArgument naming `tensor`
// and the first offending value as [r, column]: ValidateQuantizable's check of its row r.
absl::Status CheckFiniteRow(std::string_view tensor, const float* row, int64_t cols, int64_t r);

// Whether no value of x[0, n) is Inf or NaN (all exponent bits set), float or BF16: one pass
// the compiler vectorizes, with no early exit, for checks on every forward (Eigen's allFinite
// runs an element at a time here).
bool AllFinite(const float* x, int64_t n);
bool AllFiniteBf16(const uint16_t* x, int64_t n);
// The index of the first NaN or infinity of BF16 x[0, n), or n where there is none (for the
// message once AllFiniteBf16 has failed).
int64_t FirstNonFiniteBf16(const uint16_t* x, int64_t n);

}  // namespace fp4moe

#endif  // FP4MOE_QUANT_VALIDATE_H_
