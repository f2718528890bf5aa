// E2M1 weights x BF16 activations on AMX-BF16, for many rows: the W4A16 AMX driver
// (kernels/w4a16_amx_driver.h) with the E2M1 panel decoder. E2M1 times an E4M3 or E8M0 scale
// has at most 6 significant bits, so a decoded float's top half is its exact BF16; float32
// scales are rounded to nearest even, as the reference rounds.
#include <cstdint>
#include <cstring>

#include "kernels/avx512_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"
#include "kernels/w4a16_amx_driver.h"

namespace fp4moe::kernels {
namespace {

template <ScaleKind kKind>
struct E2m1 {
  static __m512 Values() { return E2m1Values(); }

  // The block scales of 16 columns over one decode step (kDecodeStep / 16 blocks; a short
  // last step reads only its own), zero for missing columns. One-byte scales are kept by column (8 bytes each, one copy per
  // column) and picked per block by one byte permute; float32 scales (a side format) by block.
  class Scales {
   public:
    static constexpr int kScaleBytes = kKind == ScaleKind::kFloat32 ? 4 : 1;
    static constexpr int kBlocks = kDecodeStep / 16;

    Scales(const WeightsView& b, int64_t n0, int columns, int64_t k0, int64_t)
        : first_(b.scales + n0 * (b.k / 16 * kScaleBytes) + k0 / 16 * kScaleBytes),
          row_bytes_(b.k / 16 * kScaleBytes),
          columns_(columns) {}

    void Step(int64_t kk, int64_t length) {
      const int blocks = static_cast<int>(length / 16);
      for (int c = 0; c < columns_; ++c) {
        const uint8_t* scales = first_ + c * row_bytes_ + kk / 16 * kScaleBytes;
        if constexpr (kKind == ScaleKind::kFloat32) {
          for (int block = 0; block < blocks; ++block) {
            std::memcpy(&floats_[block][c], scales + 4 * block, 4);
          }
        } else if (blocks == kBlocks) {
          std::memcpy(bytes_ + kBlocks * c, scales, kBlocks);  // 8 bytes: one move, no call
        } else {
          _mm_storel_epi64(reinterpret_cast<__m128i*>(bytes_ + kBlocks * c),
                           _mm512_castsi512_si128(LoadPrefix(scales, blocks)));
        }
      }
    }

    // The 16 columns' scales of k 8j .. 8j + 7 of the step: block j / 2, one per lane.
    __m512 Run(int j) const {
      const int block = j / 2;
      if constexpr (kKind == ScaleKind::kFloat32) {
        return _mm512_load_ps(floats_[block]);
      } else {
        // Byte kBlocks * lane + block (lanes 8..15 from the second vector) to the top byte of
        // each lane.
        const __m512i index = _mm512_add_epi32(
            _mm512_set_epi32(120 << 24, 112 << 24, 104 << 24, 96 << 24, 88 << 24, 80 << 24,
                             72 << 24, 64 << 24, 56 << 24, 48 << 24, 40 << 24, 32 << 24,
                             24 << 24, 16 << 24, 8 << 24, 0),
            _mm512_set1_epi32(block << 24));
        return DecodeTopByteScales<kKind>(_mm512_maskz_permutex2var_epi8(
            0x8888888888888888ull, _mm512_load_si512(bytes_), index,
            _mm512_load_si512(bytes_ + 64)));
      }
    }

   private:
    static constexpr int kFloatBlocks = kKind == ScaleKind::kFloat32 ? kBlocks : 1;
    const uint8_t* first_;
    int64_t row_bytes_;
    int columns_;
    alignas(64) uint8_t bytes_[16 * kBlocks] = {};
    alignas(64) float floats_[kFloatBlocks][16] = {};
  };

  // Exact: the top half of each float (E4M3 and E8M0 scales); float32 scales round first.
  static __m512i PairBf16(__m512 even, __m512 odd) {
    __m512i even_bits = _mm512_castps_si512(even), odd_bits = _mm512_castps_si512(odd);
    if constexpr (kKind == ScaleKind::kFloat32) {
      even_bits = RoundToBf16Bits(even);
      odd_bits = RoundToBf16Bits(odd);
    }
    // (odd & 0xFFFF0000) | (even >> 16)
    return _mm512_ternarylogic_epi32(odd_bits, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u)),
                                     _mm512_srli_epi32(even_bits, 16), 0xEA);
  }
};

}  // namespace

void FP4MOE_MICROKERNEL(fp4_w4a16_32x32_amx)(const GemmArgs& args, int64_t n_begin,
                                               int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    MultiplyW4a16Amx<E2m1<decltype(kind)::value>>(args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
