// E2M1 weights x int8 activations with AVX-512 VNNI; tiles of 4 rows of A x 4 columns of B.
//
// A 64-byte load of codes holds 128 elements (8 blocks): its low nibbles are the even elements,
// its high nibbles the odd ones. Rather than interleave the weights, each call reorders the
// activations once into the same even/odd order, so every code byte needs at most a shift and one
// vpermb. vpdpbusd multiplies unsigned by signed bytes: the table yields
// w + 12 (0..24, unsigned) and the activation rows carry -12 x their sums as the dot products'
// starting value, which keeps every block sum an exact int32. Dword lane L of either half
// covers elements 8L..8L+7, i.e. block L / 2, so both halves add into one accumulator whose
// lanes are then scaled per block in float.
#include <cstdint>
#include <cstring>

#include "kernels/avx512_helpers.h"
#include "kernels/int8_tile_driver.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"

namespace fp4moe::kernels {
namespace {

constexpr int kWeightOffset = 12;  // table entries are 2 x E2M1 + 12

// One chunk of a prepared activation row: even and odd elements, the dot products' starting
// value and the activation scales, each laid out per dword lane of the accumulator.
struct alignas(64) PreparedChunk {
  int8_t even[64];
  int8_t odd[64];
  int32_t offset_correction[16];  // -12 x the sum of the elements lane L multiplies
  float scale[16];                // the scale of block L / 2
};

// Indices that spread 8 values over 16 lanes, lane L taking value L / 2.
__m512i PairedLaneIndex() {
  return _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
}

// 8 one-byte scales, byte L / 2 placed in the top byte of dword lane L, the rest zero.
__m512i ScaleBytesInTopByte(const uint8_t* scales) {
  uint64_t bytes;
  std::memcpy(&bytes, scales, sizeof bytes);
  const __m512i index = _mm512_set_epi32(7 << 24, 7 << 24, 6 << 24, 6 << 24, 5 << 24, 5 << 24,
                                         4 << 24, 4 << 24, 3 << 24, 3 << 24, 2 << 24, 2 << 24,
                                         1 << 24, 1 << 24, 0, 0);
  return _mm512_maskz_permutexvar_epi8(0x8888888888888888ull, index,
                                       _mm512_castsi128_si512(_mm_cvtsi64_si128(bytes)));
}

// The 8 weight block scales of a chunk, lane L holding block L / 2's.
template <ScaleKind kKind>
__m512 LoadChunkScales(const uint8_t* scales) {
  if constexpr (kKind == ScaleKind::kFloat32) {
    return _mm512_permutexvar_ps(PairedLaneIndex(),
                                 _mm512_castps256_ps512(_mm256_loadu_ps(
                                     reinterpret_cast<const float*>(scales))));
  } else {
    return DecodeTopByteScales<kKind>(ScaleBytesInTopByte(scales));
  }
}

// The kernel's part of MultiplyInt8 (kernels/int8_tile_driver.h).
template <ScaleKind kKind>
struct Fp4W4a8Avx512 : Avx512Accumulator {
  static constexpr int kRowTile = 4;
  static constexpr int kColumnTile = 4;
  static constexpr int64_t kChunk = 128;  // elements per step: 64 code bytes, 8 blocks
  static constexpr int64_t kChunkBlocks = kChunk / 16;
  // Rows of A prepared and multiplied per pass over the columns: their prepared chunks (2 bytes
  // per element) stay in L2 while each column tile's codes stay in L1.
  static constexpr int64_t kRowBlock = 64;
  static constexpr int64_t kScaleBytes = kKind == ScaleKind::kFloat32 ? 4 : 1;
  using Chunk = PreparedChunk;
  struct Weights {
    __m512i even;   // w + 12 of the low nibbles
    __m512i odd;    // and of the high nibbles
    __m512 scales;  // lane L: block L / 2's
  };

  void PrepareChunk(const int8_t* values, const float* row_scales, int64_t begin, int64_t count,
                    PreparedChunk& chunk) const {
    const __m512i even_index = _mm512_set_epi8(
        126, 124, 122, 120, 118, 116, 114, 112, 110, 108, 106, 104, 102, 100, 98, 96, 94, 92,
        90, 88, 86, 84, 82, 80, 78, 76, 74, 72, 70, 68, 66, 64, 62, 60, 58, 56, 54, 52, 50, 48,
        46, 44, 42, 40, 38, 36, 34, 32, 30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2,
        0);
    const __m512i odd_index = _mm512_add_epi8(even_index, _mm512_set1_epi8(1));
    const __m512i offset = _mm512_set1_epi8(kWeightOffset);
    const __m512i low = _mm512_loadu_si512(values);
    const __m512i high = _mm512_loadu_si512(values + 64);
    const __m512i even = _mm512_permutex2var_epi8(low, even_index, high);
    const __m512i odd = _mm512_permutex2var_epi8(low, odd_index, high);
    const __m512i offset_sum =
        _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), offset, even), offset, odd);
    _mm512_store_si512(chunk.even, even);
    _mm512_store_si512(chunk.odd, odd);
    _mm512_store_si512(chunk.offset_correction,
                       _mm512_sub_epi32(_mm512_setzero_si512(), offset_sum));
    alignas(32) float padded_scales[kChunkBlocks];
    const float* scales = BlockScalesOfChunk(row_scales, begin, count, padded_scales);
    _mm512_store_ps(
        chunk.scale,
        _mm512_permutexvar_ps(PairedLaneIndex(), _mm512_castps256_ps512(_mm256_loadu_ps(scales))));
  }

  static int64_t ScaleOffset(int64_t chunk) { return chunk * kChunkBlocks * kScaleBytes; }

  [[gnu::always_inline]] static Weights LoadWeights(const uint8_t* codes, const uint8_t* scales) {
    // vpermb reads 6 index bits: the table repeated 4 times ignores the 2 bits above the
    // nibble, so neither nibble needs masking.
    const __m512i table = _mm512_broadcast_i32x4(
        _mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
    const __m512i packed = _mm512_loadu_si512(codes);
    return {_mm512_permutexvar_epi8(packed, table),
            _mm512_permutexvar_epi8(_mm512_srli_epi16(packed, 4), table),
            LoadChunkScales<kKind>(scales)};
  }

  [[gnu::always_inline]] static __m512 Add(const Weights& w, const PreparedChunk& a, __m512 acc) {
    __m512i dot = _mm512_load_si512(a.offset_correction);
    dot = _mm512_dpbusd_epi32(dot, w.even, _mm512_load_si512(a.even));
    dot = _mm512_dpbusd_epi32(dot, w.odd, _mm512_load_si512(a.odd));
    return _mm512_fmadd_ps(Int32ToFloat(dot), _mm512_mul_ps(w.scales, _mm512_load_ps(a.scale)),
                           acc);
  }

  static float OutputScale(const WeightsView& b) { return 0.5f * b.tensor_scale; }
};

}  // namespace

void FP4MOE_MICROKERNEL(fp4_w4a8_4x4_avx512)(const GemmArgs& args, int64_t n_begin,
                                               int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    MultiplyInt8(Fp4W4a8Avx512<decltype(kind)::value>(), args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
