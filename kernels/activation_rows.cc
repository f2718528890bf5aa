#include "kernels/activation_rows.h"

#include <cmath>

#include "absl/strings/str_format.h"
#include "kernels/cpu_features.h"
#include "quant/bf16.h"
#include "quant/int8_activation.h"
#include "quant/validate.h"

namespace fp4moe::kernels {

void QuantizeInt8RowsScalar(const FloatRows& x, int64_t group, int8_t* q, float* scales) {
  for (int64_t r = 0; r < x.rows; ++r) {
    QuantizeInt8Row(x.Row(r), x.k, group, q + r * x.k, scales + r * (x.k / group));
  }
}

bool RoundRowsToBf16Scalar(const FloatRows& x, uint16_t* out) {
  bool finite = true;
  for (int64_t r = 0; r < x.rows; ++r) {
    for (int64_t c = 0; c < x.k; ++c) {
      const Bf16 word = FloatToBf16(x.Row(r)[c]);
      out[r * x.k + c] = word;
      finite = finite && IsFiniteBf16(word);
    }
  }
  return finite;
}

void QuantizeInt8Rows(const FloatRows& x, int64_t group, int8_t* q, float* scales) {
  const CpuFeatures& cpu = DetectedCpuFeatures();
  if (group % 16 == 0 && cpu.avx512) return QuantizeInt8RowsAvx512(x, group, q, scales);
  if (group % 16 == 0 && cpu.avx2) return QuantizeInt8RowsAvx2(x, group, q, scales);
  QuantizeInt8RowsScalar(x, group, q, scales);
}

bool RoundRowsToBf16(const FloatRows& x, uint16_t* out) {
  const CpuFeatures& cpu = DetectedCpuFeatures();
  if (cpu.avx512) return RoundRowsToBf16Avx512(x, out);
  if (cpu.avx2) return RoundRowsToBf16Avx2(x, out);
  return RoundRowsToBf16Scalar(x, out);
}

absl::Status RoundRowsToBf16Checked(std::string_view name, const FloatRows& x, uint16_t* out,
                                    int64_t first_row) {
  if (RoundRowsToBf16(x, out)) return absl::OkStatus();
  for (int64_t r = 0; r < x.rows; ++r) {
    const int64_t c = FirstNonFiniteBf16(out + r * x.k, x.k);
    if (c == x.k) continue;
    const float value = x.Row(r)[c];
    // Every value before it was finite, so CheckFiniteRow names this one.
    if (!std::isfinite(value)) {
      return CheckFiniteRow(name, x.Row(r), x.k, first_row + r);
    }
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %g at [%d, %d] is beyond BF16's range (largest 3.39e38), which the kernel's BF16 "
        "activations cannot carry",
        name, value, first_row + r, c));
  }
  return absl::InternalError(absl::StrFormat(
      "%s: the rounding reported a non-finite value that its rows do not hold", name));
}

}  // namespace fp4moe::kernels
