#include "kernels/microkernel_table.h"

#include <array>
#include <cstdlib>

#include "absl/strings/str_format.h"
#include "kernels/microkernels.h"

namespace fp4moe::kernels {
namespace {

constexpr bool kNative = false;
constexpr bool kEmulated = true;
constexpr bool kVariant = true;
constexpr bool kReadsColumnWindows = true;
constexpr bool kReadsRowBlocks = true;
// Rows from which the AMX kernels take over (Xeon, 16 threads, weights streamed, 2048 x 7168
// and 7168 x 2048). W4A16 AMX beats its AVX-512 kernel from 5 rows (0.53 to 0.66 ms against
// 0.62 to 0.73, where the AVX-512 kernel leaves its streaming way). INT4 AMX against the
// AVX-512 GEMV with one lane per 32 k: at 6 rows 0.20 to 0.25 ms against 0.18 to 0.20, at 8
// rows even (0.22 to 0.26 against 0.21 to 0.23), at 10 rows 0.22 to 0.27 against 0.27 to 0.33.
constexpr int64_t kW4a16AmxMinRows = 5;
constexpr int64_t kInt4AmxMinRows = 8;

// Rows per kernel; an AVX-512 or AMX kernel also has its `_emulated` copy.
const Microkernel kMicrokernels[] = {
    {"fp4_w4a4_lut_scalar", GemmPath::kFp4W4A4Lut, Isa::kScalar, kNative, fp4_w4a4_lut_scalar},
    {"fp4_w4a8_scalar", GemmPath::kFp4W4A8, Isa::kScalar, kNative, fp4_w4a8_scalar},
    {"fp4_w4a16_scalar", GemmPath::kFp4W4A16, Isa::kScalar, kNative, fp4_w4a16_scalar},
    {"int4_w4a8_scalar", GemmPath::kInt4W4A8, Isa::kScalar, kNative, int4_w4a8_scalar},
    {"int4_w4a16_scalar", GemmPath::kInt4W4A16, Isa::kScalar, kNative, int4_w4a16_scalar},
    // --- fp4_w4a4_lut kernels ---
    {"fp4_w4a4_lut_4x4_avx512", GemmPath::kFp4W4A4Lut, Isa::kAvx512, kNative,
     fp4_w4a4_lut_4x4_avx512},
    {"fp4_w4a4_lut_4x4_avx512_emulated", GemmPath::kFp4W4A4Lut, Isa::kAvx512, kEmulated,
     fp4_w4a4_lut_4x4_avx512_emulated},
    {"fp4_w4a4_lut_4x2_avx2", GemmPath::kFp4W4A4Lut, Isa::kAvx2, kNative, fp4_w4a4_lut_4x2_avx2},
    // --- fp4_w4a8 kernels ---
    {"fp4_w4a8_4x4_avx512", GemmPath::kFp4W4A8, Isa::kAvx512, kNative, fp4_w4a8_4x4_avx512},
    {"fp4_w4a8_4x4_avx512_emulated", GemmPath::kFp4W4A8, Isa::kAvx512, kEmulated,
     fp4_w4a8_4x4_avx512_emulated},
    {"fp4_w4a8_rowblocks_64x32_avx512", GemmPath::kFp4W4A8, Isa::kAvx512, kNative,
     fp4_w4a8_rowblocks_64x32_avx512, 1, kVariant, 0, false, kReadsRowBlocks},
    {"fp4_w4a8_rowblocks_64x32_avx512_emulated", GemmPath::kFp4W4A8, Isa::kAvx512, kEmulated,
     fp4_w4a8_rowblocks_64x32_avx512_emulated, 1, kVariant, 0, false, kReadsRowBlocks},
    {"fp4_w4a8_4x2_avx2", GemmPath::kFp4W4A8, Isa::kAvx2, kNative, fp4_w4a8_4x2_avx2},
    // --- fp4_w4a16 kernels ---
    {"fp4_w4a16_4x4_avx512", GemmPath::kFp4W4A16, Isa::kAvx512, kNative, fp4_w4a16_4x4_avx512},
    {"fp4_w4a16_4x4_avx512_emulated", GemmPath::kFp4W4A16, Isa::kAvx512, kEmulated,
     fp4_w4a16_4x4_avx512_emulated},
    {"fp4_w4a16_32x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, kNative, fp4_w4a16_32x32_amx,
     kW4a16AmxMinRows, !kVariant, 0, kReadsColumnWindows},
    {"fp4_w4a16_32x32_amx_emulated", GemmPath::kFp4W4A16, Isa::kAmx, kEmulated,
     fp4_w4a16_32x32_amx_emulated, kW4a16AmxMinRows, !kVariant, 0, kReadsColumnWindows},
    {"fp4_w4a16_4x2_avx2", GemmPath::kFp4W4A16, Isa::kAvx2, kNative, fp4_w4a16_4x2_avx2},
    // Compared variants of fp4_w4a16_32x32_amx.
    {"fp4_w4a16_fp16mul_32x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, kNative,
     fp4_w4a16_fp16mul_32x32_amx, kW4a16AmxMinRows, kVariant},
    {"fp4_w4a16_fp16mul_32x32_amx_emulated", GemmPath::kFp4W4A16, Isa::kAmx, kEmulated,
     fp4_w4a16_fp16mul_32x32_amx_emulated, kW4a16AmxMinRows, kVariant},
    {"fp4_w4a16_panels_32x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, kNative,
     fp4_w4a16_panels_32x32_amx, kW4a16AmxMinRows, kVariant},
    {"fp4_w4a16_panels_32x32_amx_emulated", GemmPath::kFp4W4A16, Isa::kAmx, kEmulated,
     fp4_w4a16_panels_32x32_amx_emulated, kW4a16AmxMinRows, kVariant},
    {"fp4_w4a16_scaledsums_16x16_amx", GemmPath::kFp4W4A16, Isa::kAmx, kNative,
     fp4_w4a16_scaledsums_16x16_amx, kW4a16AmxMinRows, kVariant},
    {"fp4_w4a16_scaledsums_16x16_amx_emulated", GemmPath::kFp4W4A16, Isa::kAmx, kEmulated,
     fp4_w4a16_scaledsums_16x16_amx_emulated, kW4a16AmxMinRows, kVariant},
    {"fp4_w4a16_decodeslots_32x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, kNative,
     fp4_w4a16_decodeslots_32x32_amx, kW4a16AmxMinRows, kVariant},
    {"fp4_w4a16_decodeslots_32x32_amx_emulated", GemmPath::kFp4W4A16, Isa::kAmx, kEmulated,
     fp4_w4a16_decodeslots_32x32_amx_emulated, kW4a16AmxMinRows, kVariant},
    {"fp4_w4a16_rowblocks_16x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, kNative,
     fp4_w4a16_rowblocks_16x32_amx, kW4a16AmxMinRows, kVariant, 0, kReadsColumnWindows,
     kReadsRowBlocks},
    {"fp4_w4a16_rowblocks_16x32_amx_emulated", GemmPath::kFp4W4A16, Isa::kAmx, kEmulated,
     fp4_w4a16_rowblocks_16x32_amx_emulated, kW4a16AmxMinRows, kVariant, 0,
     kReadsColumnWindows, kReadsRowBlocks},
    // --- int4_w4a8 kernels ---
    {"int4_w4a8_32x32_amx", GemmPath::kInt4W4A8, Isa::kAmx, kNative, int4_w4a8_32x32_amx,
     kInt4AmxMinRows},
    {"int4_w4a8_32x32_amx_emulated", GemmPath::kInt4W4A8, Isa::kAmx, kEmulated,
     int4_w4a8_32x32_amx_emulated, kInt4AmxMinRows},
    {"int4_w4a8_4x4_avx512", GemmPath::kInt4W4A8, Isa::kAvx512, kNative, int4_w4a8_4x4_avx512},
    {"int4_w4a8_4x4_avx512_emulated", GemmPath::kInt4W4A8, Isa::kAvx512, kEmulated,
     int4_w4a8_4x4_avx512_emulated},
    {"int4_w4a8_4x2_avx2", GemmPath::kInt4W4A8, Isa::kAvx2, kNative, int4_w4a8_4x2_avx2},
    // --- int4_w4a16 kernels (the W4A16 drivers with an INT4 decoder) ---
    {"int4_w4a16_32x32_amx", GemmPath::kInt4W4A16, Isa::kAmx, kNative, int4_w4a16_32x32_amx,
     kW4a16AmxMinRows},
    {"int4_w4a16_32x32_amx_emulated", GemmPath::kInt4W4A16, Isa::kAmx, kEmulated,
     int4_w4a16_32x32_amx_emulated, kW4a16AmxMinRows},
    {"int4_w4a16_scaledsums_16x16_amx", GemmPath::kInt4W4A16, Isa::kAmx, kNative,
     int4_w4a16_scaledsums_16x16_amx, kW4a16AmxMinRows, kVariant, kScaledSumsMaxRows},
    {"int4_w4a16_scaledsums_16x16_amx_emulated", GemmPath::kInt4W4A16, Isa::kAmx, kEmulated,
     int4_w4a16_scaledsums_16x16_amx_emulated, kW4a16AmxMinRows, kVariant,
     kScaledSumsMaxRows},
    {"int4_w4a16_4x4_avx512", GemmPath::kInt4W4A16, Isa::kAvx512, kNative,
     int4_w4a16_4x4_avx512},
    {"int4_w4a16_4x4_avx512_emulated", GemmPath::kInt4W4A16, Isa::kAvx512, kEmulated,
     int4_w4a16_4x4_avx512_emulated},
    {"int4_w4a16_4x2_avx2", GemmPath::kInt4W4A16, Isa::kAvx2, kNative, int4_w4a16_4x2_avx2},
};

constexpr std::array<std::pair<Isa, std::string_view>, 4> kIsaNames = {{
    {Isa::kScalar, "scalar"},
    {Isa::kAvx2, "avx2"},
    {Isa::kAvx512, "avx512"},
    {Isa::kAmx, "amx"},
}};

constexpr std::array<std::pair<GemmPath, std::string_view>, 5> kPathNames = {{
    {GemmPath::kFp4W4A4Lut, "w4a4"},
    {GemmPath::kFp4W4A8, "w4a8"},
    {GemmPath::kFp4W4A16, "w4a16"},
    {GemmPath::kInt4W4A8, "int4_w4a8"},
    {GemmPath::kInt4W4A16, "int4_w4a16"},
}};

constexpr std::array<GemmPath, kPathNames.size()> kAllPaths = [] {
  std::array<GemmPath, kPathNames.size()> paths{};
  for (size_t i = 0; i < paths.size(); ++i) paths[i] = kPathNames[i].first;
  return paths;
}();

template <typename Enum, size_t N>
absl::StatusOr<Enum> ParseName(const std::array<std::pair<Enum, std::string_view>, N>& names,
                               std::string_view what, std::string_view name) {
  std::string known;
  for (const auto& [value, value_name] : names) {
    if (value_name == name) return value;
    absl::StrAppendFormat(&known, "%s%s", known.empty() ? "" : ", ", value_name);
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("unknown %s '%s' (known: %s)", what, name, known));
}

template <typename Enum, size_t N>
std::string_view NameOf(const std::array<std::pair<Enum, std::string_view>, N>& names,
                        Enum value) {
  for (const auto& [v, name] : names) {
    if (v == value) return name;
  }
  return "?";
}

bool Supports(const CpuFeatures& cpu, Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return cpu.avx2;
    case Isa::kAvx512:
      return cpu.avx512;
    case Isa::kAmx:
      return cpu.amx;
  }
  return false;
}

}  // namespace

absl::Span<const Microkernel> AllMicrokernels() { return kMicrokernels; }

absl::StatusOr<const Microkernel*> FindMicrokernel(std::string_view name) {
  for (const Microkernel& kernel : kMicrokernels) {
    if (name == kernel.name) return &kernel;
  }
  return absl::NotFoundError(absl::StrFormat("no kernel is named '%s'", name));
}

bool CanRun(const Microkernel& kernel, const CpuFeatures& cpu) {
  return kernel.emulated ? cpu.avx2 : Supports(cpu, kernel.isa);
}

std::string_view IsaName(Isa isa) { return NameOf(kIsaNames, isa); }
absl::StatusOr<Isa> ParseIsa(std::string_view name) { return ParseName(kIsaNames, "ISA", name); }
absl::Span<const GemmPath> AllPaths() { return kAllPaths; }
std::string_view PathName(GemmPath path) { return NameOf(kPathNames, path); }
absl::StatusOr<GemmPath> ParsePath(std::string_view name) {
  return ParseName(kPathNames, "GEMM path", name);
}

absl::StatusOr<const Microkernel*> SelectMicrokernel(GemmPath path, std::optional<Isa> isa,
                                                     const CpuFeatures& cpu, int64_t m) {
  if (!isa.has_value()) {
    if (const char* env = std::getenv("FP4MOE_ISA"); env != nullptr && *env != '\0') {
      absl::StatusOr<Isa> parsed = ParseIsa(env);
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(
            absl::StrFormat("FP4MOE_ISA: %s", parsed.status().message()));
      }
      isa = *parsed;
    }
  }
  if (isa.has_value() && !Supports(cpu, *isa)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "ISA %s was asked for, but this CPU (%s) cannot run it", IsaName(*isa),
        cpu.ToString()));
  }
  const Microkernel* best = nullptr;
  for (const Microkernel& kernel : kMicrokernels) {
    if (kernel.path != path || kernel.emulated || kernel.variant || !Supports(cpu, kernel.isa)) {
      continue;
    }
    if (!isa.has_value() && kernel.min_m > m) continue;
    if (isa.has_value() ? kernel.isa == *isa : (best == nullptr || kernel.isa > best->isa)) {
      best = &kernel;
    }
  }
  if (best == nullptr) {
    return absl::NotFoundError(absl::StrFormat("no %s kernel for %s on this CPU (%s)",
                                               isa ? IsaName(*isa) : "native", PathName(path),
                                               cpu.ToString()));
  }
  return best;
}

}  // namespace fp4moe::kernels
