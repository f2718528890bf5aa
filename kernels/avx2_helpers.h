#ifndef FP4MOE_KERNELS_AVX2_HELPERS_H_
#define FP4MOE_KERNELS_AVX2_HELPERS_H_

// Helpers shared by the AVX2 microkernels. All of them live in an anonymous namespace: each
// including file gets its own copy compiled with its own ISA flags, so that no copy built with
// other flags can replace it at link time (see kernels/microkernel.bzl on the ODR trap).

#include <cstdint>

#include "kernels/simd.h"

namespace fp4moe::kernels {
namespace {

// Which 16 elements of a 128-element chunk int32 lane L holds after LoadBlockHalves (vshufps
// works within 128-bit halves).
constexpr int kLaneBlocks[8] = {0, 1, 4, 5, 2, 3, 6, 7};

[[maybe_unused]] __m256i LaneBlocks() { return _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7); }

// The 64 code bytes (128 elements) at p as two vectors: int32 lane L holds the first (second)
// 4 bytes of the 16 elements kLaneBlocks[L], so that a lane of a dot product covers one block.
[[maybe_unused]] void LoadBlockHalves(const uint8_t* p, __m256i& first, __m256i& second) {
  const __m256 low = _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  const __m256 high = _mm256_loadu_ps(reinterpret_cast<const float*>(p + 32));
  first = _mm256_castps_si256(_mm256_shuffle_ps(low, high, 0x88));
  second = _mm256_castps_si256(_mm256_shuffle_ps(low, high, 0xDD));
}

[[maybe_unused]] float SumLanes(__m256 v) {
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

// The float accumulator of the AVX2 kernels' driver loops (kernels/*_driver.h): 8 lanes.
struct Avx2Accumulator {
  using Acc = __m256;
  static __m256 Zero() { return _mm256_setzero_ps(); }
  static float Sum(__m256 v) { return SumLanes(v); }
};

// Floats rounded to nearest even BF16, as FloatToBf16 rounds (the values are finite).
[[maybe_unused]] __m256 RoundToBf16Floats(__m256 v) {
  const __m256i bits = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF)));
  return _mm256_castsi256_ps(
      _mm256_and_si256(rounded, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))));
}

// The 8 bytes at p widened to int32 lanes.
[[maybe_unused]] __m256i WidenBytes(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

// E4M3 codes (low byte of each lane) to floats, exactly and without subnormal floats (which
// cost microcode assists and vanish under DAZ): magnitude bits under an exponent biased by 120,
// which gives subnormal codes (exponent 0) 2^-7 * (1 + m/8) where they mean 2^-6 * m/8 = 2 *
// that - 2^-6.
[[maybe_unused]] __m256 DecodeE4M3(__m256i code) {
  const __m256i magnitude = _mm256_slli_epi32(_mm256_and_si256(code, _mm256_set1_epi32(0x7F)), 20);
  const __m256 with_implicit_one =
      _mm256_castsi256_ps(_mm256_add_epi32(magnitude, _mm256_set1_epi32(120 << 23)));
  const __m256 subnormal =
      _mm256_fmsub_ps(with_implicit_one, _mm256_set1_ps(2.0f), _mm256_set1_ps(0.015625f));
  const __m256 normal = _mm256_castsi256_ps(_mm256_cmpgt_epi32(
      _mm256_and_si256(code, _mm256_set1_epi32(0x78)), _mm256_setzero_si256()));
  const __m256 value = _mm256_blendv_ps(subnormal, with_implicit_one, normal);
  const __m256i sign = _mm256_and_si256(_mm256_slli_epi32(code, 24), _mm256_set1_epi32(INT32_MIN));
  return _mm256_or_ps(value, _mm256_castsi256_ps(sign));
}

// E8M0 codes (low byte of each lane, the rest zero) to 2^(code - 127); code 0 is the
// subnormal 2^-127.
[[maybe_unused]] __m256 DecodeE8M0(__m256i code) {
  return _mm256_castsi256_ps(
      _mm256_max_epi32(_mm256_slli_epi32(code, 23), _mm256_set1_epi32(0x00400000)));
}

// --- int8 activations against 4-bit weights decoded to unsigned bytes (vpmaddubsw) ---

// One 128-element chunk of an int8 activation row, in the byte and lane order LoadBlockHalves
// gives the weights and split by nibble. The weights are multiplied as w + offset (unsigned),
// so the dot products start from -offset x each lane's sum, which keeps them exact.
struct alignas(32) PreparedChunk {
  int8_t even[2][32];     // [half]: elements under the low nibbles
  int8_t odd[2][32];      // [half]: elements under the high nibbles
  int32_t correction[8];  // -offset x the sum of lane L's 16 elements
  float scale[8];         // the activation scale of lane L's elements
};

// Fills chunk.even, chunk.odd and chunk.correction from the 128 values at src.
[[maybe_unused]] void SplitActivations(const int8_t* src, int8_t weight_offset,
                                       PreparedChunk& chunk) {
  // Within each 16 bytes (two 8-element runs): the runs' even elements, then their odd.
  const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15, 0,
                                         2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  const __m256i offset = _mm256_set1_epi8(weight_offset);
  const __m256i ones = _mm256_set1_epi16(1);
  // Vector v's 128-bit halves hold [even g, even g+1, odd g, odd g+1] of the code dwords
  // (8-element runs) g = 4v, 4v + 2; the permutes and unpacks gather the dword order
  // [0, 2, 8, 10 | 4, 6, 12, 14] (first halves) and [1, 3, 9, 11 | 5, 7, 13, 15] (second)
  // that LoadBlockHalves gives the weights.
  __m256i v[4];
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_shuffle_epi8(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 32 * i)), split);
  }
  const __m256i t0 = _mm256_permute2x128_si256(v[0], v[1], 0x20);
  const __m256i t1 = _mm256_permute2x128_si256(v[0], v[1], 0x31);
  const __m256i t2 = _mm256_permute2x128_si256(v[2], v[3], 0x20);
  const __m256i t3 = _mm256_permute2x128_si256(v[2], v[3], 0x31);
  const __m256i even_low = _mm256_unpacklo_epi32(t0, t1);
  const __m256i even_high = _mm256_unpacklo_epi32(t2, t3);
  const __m256i odd_low = _mm256_unpackhi_epi32(t0, t1);
  const __m256i odd_high = _mm256_unpackhi_epi32(t2, t3);
  const __m256i even[2] = {_mm256_unpacklo_epi64(even_low, even_high),
                           _mm256_unpackhi_epi64(even_low, even_high)};
  const __m256i odd[2] = {_mm256_unpacklo_epi64(odd_low, odd_high),
                          _mm256_unpackhi_epi64(odd_low, odd_high)};
  __m256i offset_sums = _mm256_setzero_si256();
  for (int h = 0; h < 2; ++h) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(chunk.even[h]), even[h]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(chunk.odd[h]), odd[h]);
    offset_sums = _mm256_add_epi16(offset_sums, _mm256_maddubs_epi16(offset, even[h]));
    offset_sums = _mm256_add_epi16(offset_sums, _mm256_maddubs_epi16(offset, odd[h]));
  }
  _mm256_store_si256(
      reinterpret_cast<__m256i*>(chunk.correction),
      _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_madd_epi16(offset_sums, ones)));
}

// One chunk of one weight row for Avx2Int8Chunks::Add: unsigned bytes per block half and nibble
// (the codes in the order of LoadBlockHalves), and the scales of lane L's elements.
struct ChunkWeights {
  __m256i bytes[2][2];  // [half][even, odd]
  __m256 scales;
};

// The AVX2 part shared by the kernels of kernels/int8_tile_driver.h: tiles of 4 rows of A x 2
// columns of B, chunks of 128 activations prepared by SplitActivations, one 16-element run per
// int32 lane, summed exactly in int32 and scaled per lane in float.
struct Avx2Int8Chunks : Avx2Accumulator {
  static constexpr int kRowTile = 4;
  static constexpr int kColumnTile = 2;
  static constexpr int64_t kChunk = 128;
  // Rows of A prepared and multiplied per pass over the columns: their prepared chunks (1.5
  // bytes per element) stay in L2 while each column tile's codes stay in L1.
  static constexpr int64_t kRowBlock = 64;
  using Chunk = PreparedChunk;
  using Weights = ChunkWeights;

  // acc + the exact lane sums of the weights times the prepared chunk, scaled by the weight
  // scales x the chunk's activation scales.
  [[gnu::always_inline]] static __m256 Add(const ChunkWeights& w, const PreparedChunk& a,
                                           __m256 acc) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i pair_sums[2];
    for (int h = 0; h < 2; ++h) {
      pair_sums[h] = _mm256_add_epi16(
          _mm256_maddubs_epi16(w.bytes[h][0],
                               _mm256_load_si256(reinterpret_cast<const __m256i*>(a.even[h]))),
          _mm256_maddubs_epi16(w.bytes[h][1],
                               _mm256_load_si256(reinterpret_cast<const __m256i*>(a.odd[h]))));
    }
    const __m256i block_sums = _mm256_add_epi32(
        _mm256_madd_epi16(_mm256_add_epi16(pair_sums[0], pair_sums[1]), ones),
        _mm256_load_si256(reinterpret_cast<const __m256i*>(a.correction)));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_sums),
                           _mm256_mul_ps(w.scales, _mm256_load_ps(a.scale)), acc);
  }
};

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_AVX2_HELPERS_H_
