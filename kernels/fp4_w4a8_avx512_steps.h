#ifndef FP4MOE_KERNELS_FP4_W4A8_AVX512_STEPS_H_
#define FP4MOE_KERNELS_FP4_W4A8_AVX512_STEPS_H_

// The steps of the E2M1 W4A8 AVX-512 VNNI kernels (fp4_w4a8_4x4_avx512 and its row-block
// variant): the activations' preparation, the weights' decode and the products of one step.
//
// A step takes 256 elements (16 blocks): 128 code bytes, block L in bytes 8L..8L+7. Two dword
// permutes put the first half of block L's bytes in dword lane L of one vector and the second
// half in lane L of another, so that every int32 lane sums one block: its low and high nibbles
// then give four VNNI operands (elements 16L + 0, 2, 4, 6 | 1, 3, 5, 7 | 8, 10, 12, 14 |
// 9, 11, 13, 15 in lane L), and 16 blocks take one int-to-float conversion and one scaling per
// row and column (with a lane per half block, they took two). The activations are reordered to
// match once per call. vpdpbusd multiplies unsigned by signed bytes: the table yields w + 12
// (0..24, unsigned) and the activation rows carry -12 x their block sums as the dot products'
// starting value, which keeps every block sum an exact int32.
//
// In an anonymous namespace like the per-ISA helpers (see kernels/microkernel.bzl on the ODR
// trap): each kernel file instantiates its own copy.

#include <cstdint>

#include "kernels/avx512_helpers.h"
#include "kernels/int8_tile_driver.h"
#include "kernels/microkernel.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {
namespace {

constexpr int kWeightOffset = 12;  // table entries are 2 x E2M1 + 12
constexpr int kOperands = 4;       // VNNI operands per step

// One step of a prepared activation row, laid out per dword lane L = block L.
struct alignas(64) PreparedChunk {
  int8_t operand[kOperands][64];  // the elements each weight operand holds, at its positions
  int32_t offset_correction[16];  // -12 x the sum of block L
  float scale[16];                // block L's activation scale
};

// Where byte 4L + i of each operand comes from: element 16L + first + 2i of a step, for the 8
// blocks of two 64-byte vectors of activations (a vpermt2b index; both halves of a step use it).
struct OperandIndices {
  alignas(64) int8_t byte[kOperands][64];
};

constexpr OperandIndices MakeOperandIndices() {
  OperandIndices indices{};
  for (int operand = 0; operand < kOperands; ++operand) {
    const int first = (operand / 2) * 8 + operand % 2;
    for (int byte = 0; byte < 64; ++byte) {
      const int block = byte / 4 % 8;
      indices.byte[operand][byte] = static_cast<int8_t>(16 * block + first + 2 * (byte % 4));
    }
  }
  return indices;
}

constexpr OperandIndices kOperandIndices = MakeOperandIndices();

// The kernel's part of MultiplyInt8 (kernels/int8_tile_driver.h).
template <ScaleKind kKind>
struct Fp4W4a8Avx512 : Avx512Accumulator {
  static constexpr int kRowTile = 4;
  static constexpr int kColumnTile = 4;
  static constexpr int64_t kChunk = 256;  // elements per step: 128 code bytes, 16 blocks
  static constexpr int64_t kChunkBlocks = kChunk / 16;
  // Rows of A prepared and multiplied per pass over the columns: their prepared chunks (1.5
  // bytes per element) stay in L2 while each column tile's codes stay in L1.
  static constexpr int64_t kRowBlock = 64;
  static constexpr int64_t kScaleBytes = kKind == ScaleKind::kFloat32 ? 4 : 1;
  using Chunk = PreparedChunk;
  struct Weights {
    __m512i operand[kOperands];  // w + 12, in the operands' element order
    __m512 scales;               // lane L: block L's
  };

  void PrepareChunk(const int8_t* values, const float* row_scales, int64_t begin, int64_t count,
                    PreparedChunk& chunk) const {
    const __m512i offset = _mm512_set1_epi8(kWeightOffset);
    __m512i quarter[4];
    for (int q = 0; q < 4; ++q) quarter[q] = _mm512_loadu_si512(values + 64 * q);
    __m512i offset_sum = _mm512_setzero_si512();
    for (int operand = 0; operand < kOperands; ++operand) {
      const __m512i index = _mm512_load_si512(kOperandIndices.byte[operand]);
      // Lanes 0..7 from the first 128 elements, lanes 8..15 from the second.
      const __m512i values_of_operand = _mm512_mask_blend_epi8(
          0xFFFFFFFF00000000ull, _mm512_permutex2var_epi8(quarter[0], index, quarter[1]),
          _mm512_permutex2var_epi8(quarter[2], index, quarter[3]));
      _mm512_store_si512(chunk.operand[operand], values_of_operand);
      offset_sum = _mm512_dpbusd_epi32(offset_sum, offset, values_of_operand);
    }
    _mm512_store_si512(chunk.offset_correction,
                       _mm512_sub_epi32(_mm512_setzero_si512(), offset_sum));
    alignas(64) float padded_scales[kChunkBlocks];
    _mm512_store_ps(chunk.scale,
                    _mm512_loadu_ps(BlockScalesOfChunk(row_scales, begin, count, padded_scales)));
  }

  static int64_t ScaleOffset(int64_t chunk) { return chunk * kChunkBlocks * kScaleBytes; }

  [[gnu::always_inline]] static Weights LoadWeights(const uint8_t* codes, const uint8_t* scales) {
    return DecodeWeights(_mm512_loadu_si512(codes), _mm512_loadu_si512(codes + 64),
                         LoadBlockScales<kKind>(scales));
  }

  // A step's 128 code bytes (`first`, then `second`) and its 16 block scales, decoded.
  [[gnu::always_inline]] static Weights DecodeWeights(__m512i first, __m512i second,
                                                      __m512 scales) {
    // vpermb reads 6 index bits: the table repeated 4 times ignores the 2 bits above the
    // nibble, so neither nibble needs masking.
    const __m512i table = _mm512_broadcast_i32x4(
        _mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
    // Dword 2L of the 128 bytes (block L's first 8 elements) and dword 2L + 1 (its last 8).
    const __m512i even_dwords =
        _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i front = _mm512_permutex2var_epi32(first, even_dwords, second);
    const __m512i back = _mm512_permutex2var_epi32(
        first, _mm512_add_epi32(even_dwords, _mm512_set1_epi32(1)), second);
    return {{_mm512_permutexvar_epi8(front, table),
             _mm512_permutexvar_epi8(_mm512_srli_epi16(front, 4), table),
             _mm512_permutexvar_epi8(back, table),
             _mm512_permutexvar_epi8(_mm512_srli_epi16(back, 4), table)},
            scales};
  }

  [[gnu::always_inline]] static __m512 Add(const Weights& w, const PreparedChunk& a, __m512 acc) {
    __m512i dot = _mm512_load_si512(a.offset_correction);
    for (int operand = 0; operand < kOperands; ++operand) {
      dot = _mm512_dpbusd_epi32(dot, w.operand[operand], _mm512_load_si512(a.operand[operand]));
    }
    return _mm512_fmadd_ps(Int32ToFloat(dot), _mm512_mul_ps(w.scales, _mm512_load_ps(a.scale)),
                           acc);
  }

  static float OutputScale(const WeightsView& b) { return 0.5f * b.tensor_scale; }
};

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_FP4_W4A8_AVX512_STEPS_H_
