#ifndef FP4MOE_KERNELS_MICROKERNEL_TABLE_H_
#define FP4MOE_KERNELS_MICROKERNEL_TABLE_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/cpu_features.h"
#include "kernels/microkernel.h"

namespace fp4moe::kernels {

// Every microkernel compiled in, native and emulated copies alike.
absl::Span<const Microkernel> AllMicrokernels();

// The kernel of that name (native, variant or emulated copy), or NotFound.
absl::StatusOr<const Microkernel*> FindMicrokernel(std::string_view name);

// Whether this CPU can run the kernel: natively for its ISA, or, for an emulated copy, with
// AVX2 (what SIMDe and the tile emulation are compiled for).
bool CanRun(const Microkernel& kernel, const CpuFeatures& cpu);

std::string_view IsaName(Isa isa);
absl::StatusOr<Isa> ParseIsa(std::string_view name);
// Every GEMM path, in the order of GemmPath.
absl::Span<const GemmPath> AllPaths();
std::string_view PathName(GemmPath path);
absl::StatusOr<GemmPath> ParsePath(std::string_view name);

// The fastest native kernel for `path` this CPU runs for products of `m` rows (AMX, then
// AVX-512, AVX2, scalar, skipping kernels whose min_m exceeds m). With `isa` given, or else the
// environment variable FP4MOE_ISA (scalar|avx2|avx512|amx) set, that ISA's kernel instead,
// whatever m: an error if the CPU lacks the ISA or no kernel of the path uses it.
absl::StatusOr<const Microkernel*> SelectMicrokernel(
    GemmPath path, std::optional<Isa> isa = std::nullopt,
    const CpuFeatures& cpu = DetectedCpuFeatures(),
    int64_t m = std::numeric_limits<int64_t>::max());

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_MICROKERNEL_TABLE_H_
