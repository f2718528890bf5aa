// Ceilings of the scaled-code-table driver (kernels/e2m1_w4a16_amx_tables.h) on NVFP4 weights,
// for benchmarks only: the same loops with the weight decode, the tile loads and products or the
// software prefetches of the weights left out, so that beside fp4_w4a16_32x32_amx at up to 16
// rows they show what each part costs. Without the decode or the products their results are not
// a product of the weights.
#include <cstdint>

#include "benchmarks/ceiling_kernels.h"
#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/e2m1_w4a16_amx_tables.h"
#include "kernels/microkernel.h"

namespace fp4moe::kernels {
namespace {

// NVFP4's format part, with the decode, the tile products or the software prefetches left out
// where its flags say so.
template <bool kDecodes, bool kMultiplies, bool kPrefetching>
struct TablesOmitting : E2m1<ScaleKind::kE4M3, /*kHalf=*/false> {};

template <bool kDecodes, bool kMultiplies, bool kPrefetching>
struct DriverOmits<TablesOmitting<kDecodes, kMultiplies, kPrefetching>> : OmitsNothing {
  static constexpr bool kDecode = !kDecodes;
  static constexpr bool kBlockSums = !kMultiplies;
  static constexpr bool kPrefetches = !kPrefetching;
};

template <bool kDecodes, bool kMultiplies, bool kPrefetching = true>
void Ceiling(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  MultiplyE2m1W4a16AmxTables<TablesOmitting<kDecodes, kMultiplies, kPrefetching>,
                             ScaleKind::kE4M3>(args, n_begin, n_end);
}

// As the kernel, they read the column windows that buffers made for them keep.
constexpr bool kReadsColumnWindows = true;
constexpr Microkernel kCeilings[] = {
    {"w4a16_tables_no_decode_16x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     Ceiling<false, true>, 1, false, 0, kReadsColumnWindows},
    {"w4a16_tables_decode_only_16x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     Ceiling<true, false>, 1, false, 0, kReadsColumnWindows},
    {"w4a16_tables_no_prefetch_16x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     Ceiling<true, true, false>, 1, false, 0, kReadsColumnWindows},
    {"w4a16_tables_no_decode_no_prefetch_16x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     Ceiling<false, true, false>, 1, false, 0, kReadsColumnWindows},
};

}  // namespace

absl::Span<const Microkernel> W4a16AmxTableCeilings() { return kCeilings; }

}  // namespace fp4moe::kernels
