// Ceilings of the W4A16 AMX driver (kernels/w4a16_amx_driver.h), for benchmarks only: the same
// loops and tile products with parts of the work left out (the weight decode; then also the
// activation packing; then also reading and writing C; then also the software prefetches; then
// also the activations' traffic, every row block reading one packed block: the tile loop
// alone, on panels and activations in L2), or with only the tile loads and products left out
// (the NVFP4 decode and the traffic around it), or, the decode kept, with its code loads from
// one line in L1 instead of each step's 16 code rows, without the software prefetches or without
// the activations' traffic, or doing nothing but write C, or nothing at all, so that beside a
// real W4A16 kernel they show what each part costs and how much of it overlaps. Their results
// are not a product of the weights.
#include <cstdint>
#include <cstring>

#include "benchmarks/ceiling_kernels.h"
#include "kernels/e2m1_w4a16_amx_decoder.h"
#include "kernels/microkernel.h"
#include "kernels/w4a16_amx_driver.h"

namespace fp4moe::kernels {
namespace {

// A ceiling that leaves out the decode, and the packing unless kPacks, and C unless kReadsC,
// and the prefetches unless kPrefetching, and the activations' traffic unless kReadsA.
template <bool kPacks, bool kReadsC, bool kPrefetching, bool kReadsA>
struct Omitting {};

template <bool kPacks, bool kReadsC, bool kPrefetching, bool kReadsA>
struct DriverOmits<Omitting<kPacks, kReadsC, kPrefetching, kReadsA>> : OmitsNothing {
  static constexpr bool kDecode = true;
  static constexpr bool kPacking = !kPacks;
  static constexpr bool kSums = !kReadsC;
  static constexpr bool kPrefetches = !kPrefetching;
  static constexpr bool kActivations = !kReadsA;
};

template <bool kPacks, bool kReadsC, bool kPrefetching, bool kReadsA = true>
void Ceiling(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  MultiplyW4a16Amx<Omitting<kPacks, kReadsC, kPrefetching, kReadsA>>(args, n_begin, n_end);
}

// NVFP4's format part, its decode kept, with the tile loads and products left out unless
// kMultiplies, the decode's code gather (each step's 16 code rows) unless kGathers, the software
// prefetches unless kPrefetching and the activations' traffic unless kReadsA.
template <bool kMultiplies, bool kGathers, bool kPrefetching, bool kReadsA>
struct Decoding : E2m1<ScaleKind::kE4M3, /*kHalf=*/false> {};

template <bool kMultiplies, bool kGathers, bool kPrefetching, bool kReadsA>
struct DriverOmits<Decoding<kMultiplies, kGathers, kPrefetching, kReadsA>> : OmitsNothing {
  static constexpr bool kBlockSums = !kMultiplies;
  static constexpr bool kCodeGather = !kGathers;
  static constexpr bool kPrefetches = !kPrefetching;
  static constexpr bool kActivations = !kReadsA;
};

template <bool kMultiplies, bool kGathers, bool kPrefetching = true, bool kReadsA = true>
void DecodingCeiling(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  MultiplyW4a16Amx<Decoding<kMultiplies, kGathers, kPrefetching, kReadsA>>(args, n_begin, n_end);
}

constexpr Microkernel kCeilings[] = {
    {"w4a16_no_decode_32x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     Ceiling<true, true, true>},
    {"w4a16_no_decode_no_packing_32x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     Ceiling<false, true, true>},
    {"w4a16_tile_products_32x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     Ceiling<false, false, true>},
    {"w4a16_tile_products_no_prefetch_32x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     Ceiling<false, false, false>},
    {"w4a16_tile_loop_32x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     Ceiling<false, false, false, false>},
    {"w4a16_no_products_32x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     DecodingCeiling<false, true>},
    {"w4a16_no_code_gather_32x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     DecodingCeiling<true, false>},
    {"w4a16_decode_no_prefetch_32x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     DecodingCeiling<true, true, false>},
    {"w4a16_decode_no_activations_32x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     DecodingCeiling<true, true, true, false>},
    // Nothing at all: in the layer, what its other work (gather, conversion, SiLU, output sums,
    // scheduling) costs around the products.
    {"w4a16_nothing_32x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     [](const GemmArgs&, int64_t, int64_t) {}},
    // Nothing but C written (zeros): that work with the products' output traffic, which the
    // layer's sums read back.
    {"w4a16_only_c_32x32_amx", GemmPath::kFp4W4A16, Isa::kAmx, false,
     [](const GemmArgs& args, int64_t n_begin, int64_t n_end) {
       for (int64_t r = 0; r < args.m; ++r) {
         std::memset(args.c + r * args.ldc + n_begin, 0, (n_end - n_begin) * sizeof(float));
       }
     }},
};

}  // namespace

absl::Span<const Microkernel> W4a16AmxCeilings() { return kCeilings; }

}  // namespace fp4moe::kernels
