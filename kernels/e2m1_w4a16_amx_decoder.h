#ifndef FP4MOE_KERNELS_E2M1_W4A16_AMX_DECODER_H_
#define FP4MOE_KERNELS_E2M1_W4A16_AMX_DECODER_H_

// The E2M1 format part of the W4A16 AMX driver (kernels/w4a16_amx_driver.h), shared by the
// E2M1 W4A16 AMX kernel and its compared variants. E2M1 times an E4M3 or E8M0 scale has at most
// 6 significant bits, so a decoded float's top half is its exact BF16; float32 scales are
// rounded to nearest even, as the reference rounds. In an anonymous namespace, as the driver.

#include <cstdint>
#include <cstring>

#include "kernels/avx512_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/simd.h"
#include "kernels/w4a16_amx_driver.h"

namespace fp4moe::kernels {
namespace {

template <ScaleKind kKind, bool kHalf>
struct E2m1 {
  // kHalf with E4M3 scales (NVFP4): code x scale in FP16, 32 weights per multiply. E4M3 x 2^-8
  // is FP16 (sign, the magnitude's 7 bits shifted left 7: subnormals included) and the codes'
  // values x 2^8 are too, so the product is the weight, exact and normal (2^-10 to 2688 in
  // magnitude). E8M0's and float32 scales span more than FP16 does: float products.
  static constexpr bool kHalfProducts = kHalf && kKind == ScaleKind::kE4M3;
  static __m512 Values() { return E2m1Values(); }
  static __m512i HalfValues() {
    // 0, 0.5, 1, 1.5, 2, 3, 4, 6 x 2^8 as FP16, then negated; twice (words 16 + c).
    alignas(64) static constexpr uint16_t kTable[32] = {
        0, 0x5800, 0x5C00, 0x5E00, 0x6000, 0x6200, 0x6400, 0x6600,
        0x8000, 0xD800, 0xDC00, 0xDE00, 0xE000, 0xE200, 0xE400, 0xE600,
        0, 0x5800, 0x5C00, 0x5E00, 0x6000, 0x6200, 0x6400, 0x6600,
        0x8000, 0xD800, 0xDC00, 0xDE00, 0xE000, 0xE200, 0xE400, 0xE600};
    return _mm512_load_si512(kTable);
  }

  // The block scales of 16 columns over one decode step (kDecodeStep / 16 blocks; a short
  // last step reads only its own), zero for missing columns. One-byte scales are kept by column
  // (8 bytes each, one copy per column) and picked per block by one byte permute; float32
  // scales (a side format) by block.
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

    // The 16 columns' scales of the step's block `block` as FP16 x 2^-8, in both words of each
    // lane (E4M3 only).
    __m512i HalfBlock(int block) const {
      // Byte kBlocks * lane + block to bytes 1 and 3 of each lane (the scale x 2^8 per word).
      const __m512i index = _mm512_add_epi32(
          _mm512_set_epi32(0x78007800, 0x70007000, 0x68006800, 0x60006000, 0x58005800,
                           0x50005000, 0x48004800, 0x40004000, 0x38003800, 0x30003000,
                           0x28002800, 0x20002000, 0x18001800, 0x10001000, 0x08000800, 0),
          _mm512_set1_epi32(block * 0x01000100));
      const __m512i words = _mm512_maskz_permutex2var_epi8(
          0xAAAAAAAAAAAAAAAAull, _mm512_load_si512(bytes_), index, _mm512_load_si512(bytes_ + 64));
      // Sign to bit 15, magnitude to bits 7..13 (bit 14, a sign copy, cleared).
      return _mm512_and_si512(_mm512_srai_epi16(words, 1),
                              _mm512_set1_epi16(static_cast<int16_t>(0xBFFF)));
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
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_E2M1_W4A16_AMX_DECODER_H_
