#include "quant/format.h"

#include <array>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace fp4moe {
namespace {

constexpr std::array<FormatTraits, 4> kFormats = {{
    {WeightFormat::kNvfp4, "nvfp4", 4, 16, false, ScaleType::kE4M3, 1, true},
    {WeightFormat::kFp4FloatScale, "fp4_float_scale", 4, 16, false, ScaleType::kFloat32, 4,
     false},
    {WeightFormat::kMxfp4, "mxfp4", 4, 32, false, ScaleType::kE8M0, 1, false},
    {WeightFormat::kInt4K2, "int4_k2", 4, 32, true, ScaleType::kBf16, 2, false},
}};

}  // namespace

absl::Span<const FormatTraits> AllWeightFormats() { return kFormats; }

const FormatTraits& TraitsOf(WeightFormat format) {
  for (const FormatTraits& traits : kFormats) {
    if (traits.format == format) return traits;
  }
  return kFormats[0];  // unreachable: every enumerator has a row
}

absl::StatusOr<WeightFormat> ParseWeightFormat(std::string_view name) {
  for (const FormatTraits& traits : kFormats) {
    if (traits.name == name) return traits.format;
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "unknown weight format '%s' (known: %s)", name,
      absl::StrJoin(kFormats, ", ", [](std::string* out, const FormatTraits& t) {
        out->append(t.name);
      })));
}

}  // namespace fp4moe
