#ifndef FP4MOE_KERNELS_INT4_W4A16_AMX_DECODER_H_
#define FP4MOE_KERNELS_INT4_W4A16_AMX_DECODER_H_

// The INT4 K2 format part of the W4A16 AMX decode (kernels/w4a16_amx_decode.h), shared by the
// INT4 W4A16 AMX kernel and its compared variant. The kernel decodes each weight with its
// group's BF16 scale, rounded to BF16 (q x s has up to 11 significant bits: within 2^-8
// relative, BF16's unit roundoff); the variant takes q alone (Bf16Values, exact) and scales the
// group sums. In an anonymous namespace, as the driver.

#include <cstdint>

#include "kernels/avx512_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/scalar_helpers.h"
#include "kernels/simd.h"
#include "kernels/w4a16_amx_decode.h"

namespace fp4moe::kernels {
namespace {

struct Int4 {
  // q x a BF16 scale has up to 11 significant bits: float products, rounded to BF16.
  static constexpr bool kHalfProducts = false;
  static constexpr bool kExponentAdd = false;
  static __m512 Values() { return Int4Values(); }
  static __m512i Bf16Values() {
    // 0..7, then -8..-1 as BF16.
    static constexpr CodeWords kTable =
        Twice({0, 0x3F80, 0x4000, 0x4040, 0x4080, 0x40A0, 0x40C0, 0x40E0, 0xC100, 0xC0E0, 0xC0C0,
               0xC0A0, 0xC080, 0xC040, 0xC000, 0xBF80});
    return _mm512_load_si512(kTable.words);
  }

  // The group scales of 16 columns over one k block as floats, [group][column] (zero for
  // missing columns), read once per tile and k block: a k block holds kKBlock / G groups, plus
  // parts of two more where G does not divide kKBlock.
  class Scales {
   public:
    static constexpr int kScaleBytes = 2;  // BF16

    Scales(const WeightsView& b, int64_t n0, int columns, int64_t k0, int64_t kc)
        : group_(b.block), first_group_(k0 / b.block), k0_(k0) {
      const int64_t row_groups = b.k / b.block;
      const int groups = static_cast<int>((k0 + kc - 1) / group_ - first_group_ + 1);
      const auto* bf16 = reinterpret_cast<const uint16_t*>(b.scales);
      for (int g = 0; g < groups; ++g) {
        // A BF16 is the upper half of its float (inline: see the driver on calls between tile
        // instructions).
        alignas(64) uint32_t bits[16];
        for (int c = 0; c < 16; ++c) {
          bits[c] = c < columns ? uint32_t{bf16[(n0 + c) * row_groups + first_group_ + g]} << 16
                                : 0u;
        }
        _mm512_store_ps(by_group_[g], _mm512_castsi512_ps(_mm512_load_si512(bits)));
      }
    }

    // The group of each run of 8 k of the step, looked up once per step.
    void Step(int64_t kk, int64_t length) {
      GroupCursor cursor(k0_ + kk, group_);
      for (int j = 0; j < length / 8; ++j) {
        run_scales_[j] = by_group_[cursor.At(k0_ + kk + 8 * j) - first_group_];
      }
    }

    // The 16 columns' scales of k 8j .. 8j + 7 of the step (G % 8 == 0: one group).
    __m512 Run(int j) const { return _mm512_load_ps(run_scales_[j]); }

   private:
    static constexpr int kMaxGroups = kKBlock / 16 + 2;
    int64_t group_, first_group_, k0_;
    const float* run_scales_[kDecodeStep / 8];
    alignas(64) float by_group_[kMaxGroups][16];
  };

  // Each product rounded to nearest even BF16 (vcvtne2ps2bf16), then interleaved into pairs.
  static __m512i PairBf16(__m512 even, __m512 odd) {
    // Word 2c takes even c (word c of the pack), word 2c + 1 odd c (word 16 + c).
    const __m512i interleave = _mm512_set_epi16(
        31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4,
        19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(interleave, FloatsToBf16(odd, even));
  }
};

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_INT4_W4A16_AMX_DECODER_H_
