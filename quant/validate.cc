#include "quant/validate.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_format.h"
#include "quant/bf16.h"

namespace fp4moe {
bool AllFinite(const float* x, int64_t n) {
  uint32_t nonfinite = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    nonfinite |= (~bits & 0x7F800000u) == 0;
  }
  return nonfinite == 0;
}

bool AllFiniteBf16(const uint16_t* x, int64_t n) {
  // A BF16 value is NaN or infinite where its magnitude bits reach 0x7F80. The largest
  // magnitude, as a signed 16-bit max (below 2^15 once the sign is cleared), vectorises as
  // one max per 8 values even on SSE2, several times fewer operations than testing each
  // value's exponent in 32-bit lanes.
  int16_t largest = 0;
  for (int64_t i = 0; i < n; ++i) {
    const auto magnitude = static_cast<int16_t>(x[i] & 0x7FFF);
    largest = magnitude > largest ? magnitude : largest;
  }
  return largest < kBf16ExponentBits;
}

int64_t FirstNonFiniteBf16(const uint16_t* x, int64_t n) {
  int64_t i = 0;
  while (i < n && IsFiniteBf16(x[i])) ++i;
  return i;
}

absl::Status ValidateBlockShape(std::string_view tensor, int64_t rows, int64_t cols,
                                int64_t block) {
  if (rows == 0 || cols == 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: empty tensor [%d, %d]", tensor, rows, cols));
  }
  if (block <= 0 || cols % block != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: K = %d is not a multiple of the block size %d", tensor, cols, block));
  }
  return absl::OkStatus();
}

absl::Status ValidateQuantizable(std::string_view tensor, ConstRowMatrixRef m, int64_t block) {
  if (absl::Status s = ValidateBlockShape(tensor, m.rows(), m.cols(), block); !s.ok()) return s;
  for (int64_t r = 0; r < m.rows(); ++r) {
    if (absl::Status s = CheckFiniteRow(tensor, m.row(r).data(), m.cols(), r); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status CheckFiniteRow(std::string_view tensor, const float* row, int64_t cols, int64_t r) {
  if (AllFinite(row, cols)) return absl::OkStatus();
  int64_t c = 0;  // the first non-finite value, for the message
  while (std::isfinite(row[c])) ++c;
  return absl::InvalidArgumentError(
      absl::StrFormat("%s: non-finite value %f at [%d, %d]", tensor, row[c], r, c));
}

}  // namespace fp4moe
