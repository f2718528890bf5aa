#ifndef FP4MOE_KERNELS_ACTIVATION_ROWS_H_
#define FP4MOE_KERNELS_ACTIVATION_ROWS_H_

// Float activation rows converted into what the kernels read (BufferA::Set), by the best ISA
// this CPU runs, bit for bit the rules of quant/ whatever the ISA: QuantizeInt8Row (scale =
// group amax / 127, q = x / scale rounded to nearest even, clamped to +-127) and FloatToBf16
// (round to nearest even). The layer converts every expert's gathered input rows and its
// intermediate rows on each forward (qlen x top-k rows), so these run at vector speed rather
// than an element at a time. x must be finite (BufferA::Set validates it first).

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"

namespace fp4moe::kernels {

// `rows` rows of `k` floats, row r at values + r * stride, or at values + row_indices[r] * stride
// where row_indices is given (a gather: the layer converts each expert's token rows straight from
// the input, without copying them together first).
struct FloatRows {
  const float* values;
  int64_t rows;
  int64_t k;
  int64_t stride;
  const int64_t* row_indices = nullptr;

  const float* Row(int64_t r) const {
    return values + (row_indices != nullptr ? row_indices[r] : r) * stride;
  }
};

// q [rows, k] and scales [rows, k / group]; k a multiple of group.
void QuantizeInt8Rows(const FloatRows& x, int64_t group, int8_t* q, float* scales);
// out [rows, k] BF16, each value rounded as FloatToBf16 rounds it (NaNs stay NaNs); whether
// every rounded value is finite (found while rounding: no second pass over out).
bool RoundRowsToBf16(const FloatRows& x, uint16_t* out);
// RoundRowsToBf16, then an InvalidArgument naming (as `name`, row first_row + r, column c) the
// first value that is not finite in BF16: a NaN or an infinity of x (the rounding keeps them,
// so x needs no check of its own), or a finite float beyond BF16's largest (about 3.39e38),
// which BF16 activations cannot carry.
absl::Status RoundRowsToBf16Checked(std::string_view name, const FloatRows& x, uint16_t* out,
                                    int64_t first_row = 0);

// The ISA versions behind them; the vector ones take groups of a multiple of 16 (others take the
// scalar one).
void QuantizeInt8RowsScalar(const FloatRows& x, int64_t group, int8_t* q, float* scales);
void QuantizeInt8RowsAvx2(const FloatRows& x, int64_t group, int8_t* q, float* scales);
void QuantizeInt8RowsAvx512(const FloatRows& x, int64_t group, int8_t* q, float* scales);
bool RoundRowsToBf16Scalar(const FloatRows& x, uint16_t* out);
bool RoundRowsToBf16Avx2(const FloatRows& x, uint16_t* out);
bool RoundRowsToBf16Avx512(const FloatRows& x, uint16_t* out);
// The SIMDe copies of the AVX-512 versions, for tests on machines without AVX-512.
void QuantizeInt8RowsAvx512_emulated(const FloatRows& x, int64_t group, int8_t* q,
                                     float* scales);
bool RoundRowsToBf16Avx512_emulated(const FloatRows& x, uint16_t* out);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_ACTIVATION_ROWS_H_
