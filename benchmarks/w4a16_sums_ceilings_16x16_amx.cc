// Ceilings of the scaled-sums driver (kernels/w4a16_amx_sums_driver.h) on NVFP4 weights, for
// benchmarks only: the same loops with parts of the work left out (the code decode; the tile
// loads, products and stores of the block sums; their float scaling), so that beside
// fp4_w4a16_scaledsums_16x16_amx they show what each part costs at 1 to 16 rows. Their results
// are not a product of the weights.
#include <cstdint>

#include "benchmarks/ceiling_kernels.h"
#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/microkernel.h"
#include "kernels/w4a16_amx_sums_driver.h"

namespace fp4moe::kernels {
namespace {

// NVFP4's format part, with the decode, the block sums and the scaling each left out where
// its flag says so.
template <bool kDecodes, bool kMultiplies, bool kScales>
struct SumsOmitting : E2m1<ScaleKind::kE4M3, /*kHalf=*/false> {};

template <bool kDecodes, bool kMultiplies, bool kScales>
struct DriverOmits<SumsOmitting<kDecodes, kMultiplies, kScales>> : OmitsNothing {
  static constexpr bool kDecode = !kDecodes;
  static constexpr bool kBlockSums = !kMultiplies;
  static constexpr bool kScaling = !kScales;
};

template <bool kDecodes, bool kMultiplies, bool kScales>
void Ceiling(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  MultiplyW4a16AmxScaledSums<SumsOmitting<kDecodes, kMultiplies, kScales>>(args, n_begin, n_end);
}

constexpr Microkernel kCeilings[] = {
    {"w4a16_sums_no_decode_16x16_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     Ceiling<false, true, true>},
    {"w4a16_sums_no_scaling_16x16_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     Ceiling<true, true, false>},
    {"w4a16_sums_no_tiles_16x16_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     Ceiling<true, false, true>},
    {"w4a16_sums_decode_only_16x16_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     Ceiling<true, false, false>},
    {"w4a16_sums_tiles_only_16x16_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     Ceiling<false, true, false>},
};

}  // namespace

absl::Span<const Microkernel> W4a16AmxSumsCeilings() { return kCeilings; }

}  // namespace fp4moe::kernels
