// E2M1 weights x BF16 activations with AVX-512, two ways:
//
// Streaming (m <= 4, E4M3 or E8M0 scales), where reading the weights is the cost. A group of
// 128 elements (64 code bytes, 8 blocks: dword d of the codes holds k 8d..8d+7 of block d / 2)
// decodes without its scales to float: shifting the dwords right by 4v puts nibble v of each in
// its low 4 bits, which is all vpermps reads of an index, so one shift and one vpermps give
// the 16 weights k = 8d + v. Float FMAs take them: on the Xeon's CPU model a vdpbf16ps (32
// products) costs about as much as 2.5 FMAs (16 each), and this way ran 1.25x (m = 1) to 1.7x
// (m = 4) faster on one core than vdpbf16ps on vpermw-decoded BF16 pairs (2x and 1.7x on the
// Xeon itself, across noisier runs). Lane d of each sum then holds block d / 2 only:
// the group's 8 products sum in one vector, scaled once by its 8 block scales. That equals the
// reference up to float rounding, because e2m1 x scale has at most 6 significant bits (the
// reference's BF16 rounding of the weight changes nothing) and e2m1 x a BF16 activation is
// exact in float. The activations are converted and permuted to match once per call, shared
// by all columns.
//
// Decoded (every other case): kernels/w4a16_avx512_driver.h, each 32 weights by a vpermw from a
// per-block-pair table of BF16 values (E2M1 x block scale, rounded to nearest even as the
// reference).
#include <cstring>

#include "kernels/avx512_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"
#include "kernels/tile_loops.h"
#include "kernels/w4a16_avx512_driver.h"

namespace fp4moe::kernels {
namespace {

// Index vectors and tables of the streaming way.
struct StreamConstants {
  // vpermt2w indices (into 64 words, 32 of the activations) for decoded vector v: word 2i + 1
  // takes element 8 (i % 8) + v, so that dword i holds it as the upper half of its float
  // (from elements 0..63 for i < 8, from 64..127 for the rest); the even words are cleared.
  alignas(64) uint16_t activations[8][32];
  // vpermb indices putting scale byte d / 2 into the top byte of dword d.
  alignas(64) uint8_t scale_bytes[64];
  constexpr StreamConstants() : activations(), scale_bytes() {
    for (int v = 0; v < 8; ++v) {
      for (int w = 0; w < 32; ++w) {
        activations[v][w] = static_cast<uint16_t>(8 * (w / 2 % 8) + v);
      }
    }
    for (int d = 0; d < 16; ++d) scale_bytes[4 * d + 3] = static_cast<uint8_t>(d / 2);
  }
};
constexpr StreamConstants kStream;

// ---------------------------------------------------------------------------------------------
// Streaming.

constexpr int kStreamRows = 4;
constexpr int kGroup = 128;
constexpr int kStreamColumns = 4;
// Activation elements permuted per pass (a multiple of kGroup).
constexpr int64_t kStreamChunk = 8192;

struct StreamScratch {
  alignas(64) float a[kStreamRows][kStreamChunk];
};
thread_local StreamScratch stream_scratch;

// 128 BF16 activations at `source` -> the 8 float vectors the decoded weight vectors pair
// with: lane i of vector v is element 8i + v.
void PermuteGroup(const uint16_t* source, float* target) {
  const __m512i first = _mm512_loadu_si512(source);
  const __m512i second = _mm512_loadu_si512(source + 32);
  const __m512i third = _mm512_loadu_si512(source + 64);
  const __m512i fourth = _mm512_loadu_si512(source + 96);
  const __m512i upper_halves = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  for (int v = 0; v < 8; ++v) {
    const __m512i index = _mm512_load_si512(kStream.activations[v]);
    const __m512i low = _mm512_permutex2var_epi16(first, index, second);   // dwords 0..7
    const __m512i high = _mm512_permutex2var_epi16(third, index, fourth);  // dwords 8..15
    // A BF16 value is the upper half of its float.
    _mm512_store_si512(target + 16 * v,
                       _mm512_and_si512(_mm512_mask_blend_epi16(0xFFFF0000u, low, high),
                                        upper_halves));
  }
}

// Adds the products of one group (64 code bytes, 8 scale bytes) with kRows rows of permuted
// activations (row r at a + r * kStreamChunk) to acc[r].
// Inlined so that acc stays in registers.
template <ScaleKind kKind, int kRows>
[[gnu::always_inline]] inline void StreamGroup(const uint8_t* codes, const uint8_t* scales,
                                               const float* a, __m512 acc[]) {
  const __m512i scale_top = _mm512_maskz_permutexvar_epi8(
      0x8888888888888888ull, _mm512_load_si512(kStream.scale_bytes),
      _mm512_castsi128_si512(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(scales))));
  const __m512 block_scales = DecodeTopByteScales<kKind>(scale_top);
  const __m512 e2m1_values = E2m1Values();
  const __m512i codes_vector = _mm512_loadu_si512(codes);
  __m512 weights[8];
  for (int v = 0; v < 8; ++v) {
    weights[v] = _mm512_permutexvar_ps(_mm512_srli_epi32(codes_vector, 4 * v), e2m1_values);
  }
  for (int r = 0; r < kRows; ++r) {
    const float* row = a + r * kStreamChunk;
    __m512 sum = _mm512_mul_ps(_mm512_load_ps(row), weights[0]);
    for (int v = 1; v < 8; ++v) sum = _mm512_fmadd_ps(_mm512_load_ps(row + 16 * v), weights[v], sum);
    acc[r] = _mm512_fmadd_ps(sum, block_scales, acc[r]);
  }
}

// C (+)= the chunk's products for kRows rows and kColumns columns from `first_column`; the
// chunk is `length` elements from k0, its activations permuted in stream_scratch.
template <ScaleKind kKind, int kRows, int kColumns>
void StreamTile(const GemmArgs& args, int64_t first_column, int64_t n_end, int64_t k0,
                int64_t length, bool first_chunk) {
  const WeightsView& b = args.b;
  const int64_t full_groups = length / kGroup;
  __m512 acc[kColumns][kRows];
  for (int col = 0; col < kColumns; ++col) {
    for (int r = 0; r < kRows; ++r) acc[col][r] = _mm512_setzero_ps();
  }
  // One-byte scales (E4M3 or E8M0) only.
  const WeightColumns<kColumns> columns(b, first_column, 1);
  const uint8_t* codes[kColumns];
  const uint8_t* scales[kColumns];
  for (int col = 0; col < kColumns; ++col) {
    codes[col] = columns.codes[col] + k0 / 2;
    scales[col] = columns.scales[col] + k0 / 16;
  }
  // The next tile's rows line by line, as the other GEMVs do: on the Xeon this beat prefetching
  // 512 bytes ahead in the tile's own rows (16 threads, m = 1 to 4: 1.2x to 1.6x).
  const NextRowsPrefetch<kColumns> next_rows(b, first_column, n_end);
  for (int64_t g = 0; g < full_groups; ++g) {
    next_rows.At(k0 / 2 + g * (kGroup / 2), kGroup / 2);
    for (int col = 0; col < kColumns; ++col) {
      StreamGroup<kKind, kRows>(codes[col] + g * (kGroup / 2), scales[col] + g * (kGroup / 16),
                                stream_scratch.a[0] + g * kGroup, acc[col]);
    }
  }
  if (const int64_t tail = length - full_groups * kGroup; tail > 0) {
    for (int col = 0; col < kColumns; ++col) {
      const PaddedChunk<kGroup / 2, kGroup / 16> padded(
          codes[col] + full_groups * (kGroup / 2), tail / 2,
          scales[col] + full_groups * (kGroup / 16), tail / 16);
      StreamGroup<kKind, kRows>(padded.codes, padded.scales,
                                stream_scratch.a[0] + full_groups * kGroup, acc[col]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    float* c = args.c + r * args.ldc + first_column;
    for (int col = 0; col < kColumns; ++col) {
      const float sum = HorizontalSum(acc[col][r]) * b.tensor_scale;
      c[col] = first_chunk ? sum : c[col] + sum;
    }
  }
}

template <ScaleKind kKind, int kRows>
void Stream(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  const int64_t k = args.b.k;
  for (int64_t k0 = 0; k0 < k; k0 += kStreamChunk) {
    const int64_t length = k - k0 < kStreamChunk ? k - k0 : kStreamChunk;
    const int64_t full_groups = length / kGroup;
    for (int r = 0; r < kRows; ++r) {
      const uint16_t* row = args.a_bf16.values + r * k + k0;
      for (int64_t g = 0; g < full_groups; ++g) {
        PermuteGroup(row + g * kGroup, stream_scratch.a[r] + g * kGroup);
      }
      if (const int64_t tail = length - full_groups * kGroup; tail > 0) {
        alignas(64) uint16_t padded[kGroup] = {};
        std::memcpy(padded, row + full_groups * kGroup, tail * sizeof(uint16_t));
        PermuteGroup(padded, stream_scratch.a[r] + full_groups * kGroup);
      }
    }
    ForEachColumnTile<kStreamColumns>(n_begin, n_end, [&](auto columns, int64_t j) {
      StreamTile<kKind, kRows, decltype(columns)::value>(args, j, n_end, k0, length, k0 == 0);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Decoded (kernels/w4a16_avx512_driver.h).

template <ScaleKind kKind>
struct E2m1 {
  // Decodes `length` weights (a multiple of 16) of `column` from k0 into `target`, zero-padded
  // to a multiple of 32.
  static void DecodeWeights(const WeightsView& b, int64_t column, int64_t k0, int64_t length,
                            uint16_t* target) {
    constexpr int kScaleBytes = kKind == ScaleKind::kFloat32 ? 4 : 1;
    constexpr int kSpan = 256;  // 128 code bytes, 16 blocks: one vector of scales
    const uint8_t* codes = b.codes + column * (b.k / 2) + k0 / 2;
    const uint8_t* scales = b.scales + (column * (b.k / 16) + k0 / 16) * kScaleBytes;
    int64_t off = 0;
    for (; off + kSpan <= length; off += kSpan) {
      DecodeSpan<kKind>(codes + off / 2, scales + off / 16 * kScaleBytes, kSpan / 32,
                        target + off);
    }
    if (off < length) {
      // The end of k.
      const int64_t tail = length - off;
      const PaddedChunk<kSpan / 2, kSpan / 16 * 4> padded(codes + off / 2, tail / 2,
                                                          scales + off / 16 * kScaleBytes,
                                                          tail / 16 * kScaleBytes);
      DecodeSpan<kKind>(padded.codes, padded.scales, static_cast<int>((tail + 31) / 32),
                        target + off);
    }
  }
};

template <ScaleKind kKind>
void Multiply(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  if constexpr (kKind != ScaleKind::kFloat32) {
    // Float32 scales round each weight to BF16 for real: those take the decoded way.
    switch (args.m) {
      case 1:
        return Stream<kKind, 1>(args, n_begin, n_end);
      case 2:
        return Stream<kKind, 2>(args, n_begin, n_end);
      case 3:
        return Stream<kKind, 3>(args, n_begin, n_end);
      case kStreamRows:
        return Stream<kKind, kStreamRows>(args, n_begin, n_end);
    }
  }
  MultiplyDecodedW4a16<E2m1<kKind>>(args, n_begin, n_end);
}

}  // namespace

void FP4MOE_MICROKERNEL(fp4_w4a16_4x4_avx512)(const GemmArgs& args, int64_t n_begin,
                                                int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    Multiply<decltype(kind)::value>(args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
