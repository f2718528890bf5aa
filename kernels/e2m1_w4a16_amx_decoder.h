#ifndef FP4MOE_KERNELS_E2M1_W4A16_AMX_DECODER_H_
#define FP4MOE_KERNELS_E2M1_W4A16_AMX_DECODER_H_

// The E2M1 format part of the W4A16 AMX decode (kernels/w4a16_amx_decode.h), shared by the
// E2M1 W4A16 AMX kernel and its compared variants. E2M1 times an E4M3 or E8M0 scale has at most
// 6 significant bits, so a decoded float's top half is its exact BF16; float32 scales are
// rounded to nearest even, as the reference rounds. In an anonymous namespace, as the driver.

#include <cstdint>
#include <cstring>

#include "kernels/avx512_helpers.h"
#include "kernels/block_scale.h"
#include "kernels/microkernel.h"
#include "kernels/simd.h"
#include "kernels/w4a16_amx_decode.h"

namespace fp4moe::kernels {
namespace {

// A code table (CodeWords) from the magnitudes of codes 0..7: code c's is the magnitude of
// c % 8 with code bit 3 as its sign (bit 15).
constexpr CodeWords SignedTwice(const uint16_t (&magnitudes)[8]) {
  uint16_t words[16] = {};
  for (int c = 0; c < 16; ++c) {
    words[c] = static_cast<uint16_t>(magnitudes[c % 8] | (c & 8 ? 0x8000 : 0));
  }
  return Twice(words);
}

template <ScaleKind kKind, bool kHalf>
struct E2m1 {
  // kHalf with E4M3 scales (NVFP4): code x scale in FP16, 32 weights per multiply. E4M3 x 2^-8
  // is FP16 (sign, the magnitude's 7 bits shifted left 7: subnormals included) and the codes'
  // values x 2^8 are too, so the product is the weight, exact and normal (2^-10 to 2688 in
  // magnitude). E8M0's and float32 scales span more than FP16 does: float products.
  static constexpr bool kHalfProducts = kHalf && kKind == ScaleKind::kE4M3;
  // E8M0 (MXFP4): the scale is a power of two, so code x scale is the code's BF16 with the
  // scale's exponent added to its exponent field: no multiply (see Scales::ExponentsInRange).
  static constexpr bool kExponentAdd = kKind == ScaleKind::kE8M0;
  static __m512 Values() { return E2m1Values(); }
  static __m512i HalfValues() {
    // 0, 0.5, 1, 1.5, 2, 3, 4, 6 x 2^8 as FP16.
    static constexpr CodeWords kTable = SignedTwice({0, 0x5800, 0x5C00, 0x5E00, 0x6000, 0x6200,
                                                     0x6400, 0x6600});
    return _mm512_load_si512(kTable.words);
  }
  static __m512i Bf16Values() {
    // 0, 0.5, 1, 1.5, 2, 3, 4, 6 as BF16.
    static constexpr CodeWords kTable = SignedTwice({0, 0x3F00, 0x3F80, 0x3FC0, 0x4000, 0x4040,
                                                     0x4080, 0x40C0});
    return _mm512_load_si512(kTable.words);
  }

  // The block scales of 16 columns over one decode step (kDecodeStep / 16 blocks; a short
  // last step reads only its own), for missing columns and blocks zero (E8M0: 127, one, so
  // that they pass ExponentsInRange; their codes are zero either way). One-byte scales are kept
  // by column (8 bytes each, one copy per column) and picked per block by one byte permute;
  // float32 scales (a side format) by block.
  class Scales {
   public:
    static constexpr int kScaleBytes = ScaleBytes(kKind);
    static constexpr int kBlocks = kDecodeStep / 16;
    static constexpr uint8_t kMissingByte = kExponentAdd ? 127 : 0;

    Scales(const WeightsView& b, int64_t n0, int columns, int64_t k0, int64_t)
        : first_(b.scales + n0 * (b.k / 16 * kScaleBytes) + k0 / 16 * kScaleBytes),
          row_bytes_(b.k / 16 * kScaleBytes),
          columns_(columns) {
      if constexpr (kExponentAdd) std::memset(bytes_, kMissingByte, sizeof(bytes_));
    }

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
          if constexpr (kExponentAdd) {
            std::memset(bytes_ + kBlocks * c + blocks, kMissingByte, kBlocks - blocks);
          }
        }
      }
      if constexpr (kExponentAdd) {
        // Every byte within [2, 252] (compares only: SIMDe's emulated byte arithmetic is signed).
        const __m512i least = _mm512_set1_epi8(2);
        const __m512i most = _mm512_set1_epi8(static_cast<char>(252));
        const __m512i low = _mm512_load_si512(bytes_), high = _mm512_load_si512(bytes_ + 64);
        exponents_in_range_ =
            (_mm512_cmplt_epu8_mask(low, least) | _mm512_cmpgt_epu8_mask(low, most) |
             _mm512_cmplt_epu8_mask(high, least) | _mm512_cmpgt_epu8_mask(high, most)) == 0;
      }
    }

    // Whether an exponent add gives every product of the step exactly (E8M0 only): the codes'
    // magnitudes are 2^-1 to 1.5 x 2^2, so a scale byte within [2, 252] keeps each product a
    // BF16 normal (biased exponent 1 to 254), where the float product's top half is the same
    // bits; smaller scales make subnormals and larger ones overflow, which the float products
    // give as the reference does.
    bool ExponentsInRange() const { return exponents_in_range_; }

    // The 16 columns' scale exponents of the step's block `block` as offsets of a BF16
    // exponent field ((byte - 127) << 7), in both words of each lane (E8M0 only).
    __m512i ExponentBlock(int block) const {
      // The byte x 2^8 in each word.
      const __m512i words = BlockBytes<0x01000100>(block);
      return _mm512_sub_epi16(_mm512_srli_epi16(words, 1), _mm512_set1_epi16(127 << 7));
    }

    // The 16 columns' scales of k 8j .. 8j + 7 of the step: block j / 2, one per lane.
    __m512 Run(int j) const {
      const int block = j / 2;
      if constexpr (kKind == ScaleKind::kFloat32) {
        return _mm512_load_ps(floats_[block]);
      } else {
        return DecodeTopByteScales<kKind>(BlockBytes<0x01000000>(block));
      }
    }

    // The 16 columns' scales of the step's block `block` as FP16 x 2^-8, in both words of each
    // lane (E4M3 only).
    __m512i HalfBlock(int block) const {
      // The scale x 2^8 in each word.
      const __m512i words = BlockBytes<0x01000100>(block);
      // Sign to bit 15, magnitude to bits 7..13 (bit 14, a sign copy, cleared).
      return _mm512_and_si512(_mm512_srai_epi16(words, 1),
                              _mm512_set1_epi16(static_cast<int16_t>(0xBFFF)));
    }

   private:
    // Byte kBlocks * lane + block (lanes 8..15 from the second vector) to the bytes of each lane
    // that kSpread holds a 1 in (0x01000000: the top one; 0x01000100: bytes 1 and 3), the other
    // bytes zero: one byte permute.
    template <uint32_t kSpread>
    __m512i BlockBytes(int block) const {
      constexpr uint64_t kLaneMask = (kSpread & 0xFF ? 1 : 0) | (kSpread >> 8 & 0xFF ? 2 : 0) |
                                     (kSpread >> 16 & 0xFF ? 4 : 0) | (kSpread >> 24 ? 8 : 0);
      const auto lane = [](uint32_t l) { return static_cast<int>(kBlocks * l * kSpread); };
      const __m512i index = _mm512_add_epi32(
          _mm512_set_epi32(lane(15), lane(14), lane(13), lane(12), lane(11), lane(10), lane(9),
                           lane(8), lane(7), lane(6), lane(5), lane(4), lane(3), lane(2), lane(1),
                           lane(0)),
          _mm512_set1_epi32(static_cast<int>(block * kSpread)));
      return _mm512_maskz_permutex2var_epi8(kLaneMask * 0x1111111111111111ull,
                                            _mm512_load_si512(bytes_), index,
                                            _mm512_load_si512(bytes_ + 64));
    }

    static constexpr int kFloatBlocks = kKind == ScaleKind::kFloat32 ? kBlocks : 1;
    const uint8_t* first_;
    int64_t row_bytes_;
    int columns_;
    bool exponents_in_range_ = false;
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
