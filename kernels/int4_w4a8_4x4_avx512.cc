// INT4 K2 weights x int8 activations with AVX-512 VNNI, for small m (decode), where weight
// bandwidth is everything: 4 weight rows (columns of C) x up to 4 activation rows per pass.
//
// Per 64 code bytes (128 k) of a weight row: low nibbles (even k) and high nibbles (odd k)
// masked out and XORed with 8, which turns the two's-complement nibble q into q + 8 in
// [0, 16): the unsigned operand of VPDPBUSD, against activations pre-split into their even
// and odd k. The exact correction -8 * (sum of the 8 activations each dword lane covers)
// seeds the accumulator, so the int32 lanes hold exact partial group sums. Each lane lies in
// one group (8 consecutive k), so it is scaled by its group's weight x activation scale and
// summed in float lanes, reduced once per output.
#include <cstdint>
#include <cstring>

#include "kernels/avx512_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"
#include "kernels/tile_loops.h"

namespace fp4moe::kernels {
namespace {

constexpr int kMaxRows = 4;
constexpr int kColumns = 4;
constexpr int kChunkK = 128;  // k per 64 code bytes
constexpr int64_t kKBlock = 8192;
constexpr int kChunksPerBlock = kKBlock / kChunkK;

// The activations of one pass (up to kMaxRows rows) over one k block, per 128-k chunk.
struct ActivationChunk {
  alignas(64) int8_t even[64];      // k = 2i
  alignas(64) int8_t odd[64];       // k = 2i + 1
  alignas(64) int32_t correction[16];  // lane j: -8 * sum of k in [8j, 8j + 8)
  alignas(64) float scales[16];     // lane j: scale of the group of k = 8j
};
thread_local ActivationChunk activation_chunks[kMaxRows][kChunksPerBlock];

// Splits rows [m0, m0 + rows) x k [k0, k0 + kc) into chunks; k past kc reads as zero.
// Vectorised: the MoE decode path calls the kernel once per 64-column slice, so this runs
// over the whole k for every 64 weight rows (a scalar loop cost a third of the streaming).
void PrepareActivations(const GemmArgs& args, int64_t m0, int rows, int64_t k0, int64_t kc,
                        __m512i lane_groups) {
  const int64_t k = args.b.k;
  const int64_t group = args.b.block;
  const int64_t groups = k / group;
  // Byte i of `even` is byte 2i of the 128 (the two 64-byte halves), of `odd` byte 2i + 1.
  alignas(64) int8_t even_index[64], odd_index[64];
  for (int i = 0; i < 64; ++i) {
    even_index[i] = static_cast<int8_t>(2 * i);
    odd_index[i] = static_cast<int8_t>(2 * i + 1);
  }
  const __m512i evens = _mm512_load_si512(even_index);
  const __m512i odds = _mm512_load_si512(odd_index);
  const __m512i ones = _mm512_set1_epi8(1);
  for (int r = 0; r < rows; ++r) {
    const int8_t* a = args.a_int8.values + (m0 + r) * k + k0;
    const float* a_scales = args.a_int8.scales + (m0 + r) * groups;
    for (int64_t chunk = 0; chunk * kChunkK < kc; ++chunk) {
      ActivationChunk& out = activation_chunks[r][chunk];
      const int64_t kk = chunk * kChunkK;
      alignas(64) int8_t padded[kChunkK];
      const int8_t* source = ZeroPaddedIfShort(a + kk, kc - kk, padded);
      const __m512i low = _mm512_loadu_si512(source);
      const __m512i high = _mm512_loadu_si512(source + 64);
      const __m512i even = _mm512_permutex2var_epi8(low, evens, high);
      const __m512i odd = _mm512_permutex2var_epi8(low, odds, high);
      _mm512_store_si512(out.even, even);
      _mm512_store_si512(out.odd, odd);
      // Dword j of `even` and `odd` together hold k in [8j, 8j + 8).
      const __m512i sums =
          _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, even), ones, odd);
      _mm512_store_si512(out.correction,
                         _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sums, 3)));
      // Lane j takes the scale of group 8j / G of the chunk's; lanes past kc are zero.
      const int64_t first_group = (k0 + kk) / group;
      float padded_scales[16];
      const __m512 chunk_scales = _mm512_loadu_ps(
          ZeroPaddedIfShort(a_scales + first_group, groups - first_group, padded_scales));
      const int lanes = kc - kk < kChunkK ? static_cast<int>((kc - kk) / 8) : 16;
      _mm512_store_ps(out.scales,
                      _mm512_maskz_mov_ps(static_cast<__mmask16>((1u << lanes) - 1),
                                          _mm512_permutexvar_ps(lane_groups, chunk_scales)));
    }
  }
}

// Where one weight row's chunk lies: 64 code bytes and its 128 / G scales.
struct WeightChunk {
  const uint8_t* codes;
  const uint8_t* scales;
};

// Exactly `bytes` (2, 4, 8 or 16) bytes of scales: none past the end of the scale array.
__m128i LoadScaleBytes(const uint8_t* scales, int bytes) {
  switch (bytes) {
    case 16:
      return _mm_loadu_si128(reinterpret_cast<const __m128i*>(scales));
    case 8:
      return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(scales));
    case 4: {
      int32_t word;
      std::memcpy(&word, scales, sizeof word);
      return _mm_cvtsi32_si128(word);
    }
    default: {
      uint16_t half;
      std::memcpy(&half, scales, sizeof half);
      return _mm_cvtsi32_si128(half);
    }
  }
}

// The weight scales of one chunk spread over the 16 lanes (lane j -> group of k = 8j).
__m512 LaneScales(const uint8_t* scales, int bytes, ScaleKind kind, __m512i lane_groups) {
  const __m512i raw = _mm512_broadcast_i32x4(LoadScaleBytes(scales, bytes));
  if (kind == ScaleKind::kBf16) {
    // Dword j's index g, read as two word indices, puts BF16 scale g in the low half of
    // dword j; shifted to the high half, its bits are those of the float.
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_permutexvar_epi16(lane_groups, raw), 16));
  }
  return _mm512_castsi512_ps(_mm512_permutexvar_epi32(lane_groups, raw));
}

// acc[c][r] += the chunk's exact lane sums x lane scales. Inlined so that acc stays in
// registers (called out of line, it loaded and stored every accumulator per chunk).
template <int kRows, int kCols>
[[gnu::always_inline]] inline void MultiplyChunk(const WeightChunk (&w)[kCols],
                                                 const ActivationChunk* const (&a)[kRows],
                                                 int scale_bytes, ScaleKind kind,
                                                 __m512i lane_groups,
                                                 __m512 (&acc)[kCols][kRows]) {
  const __m512i low_nibbles = _mm512_set1_epi8(0x0F);
  const __m512i eight = _mm512_set1_epi8(0x08);
  for (int c = 0; c < kCols; ++c) {
    const __m512i codes = _mm512_loadu_si512(w[c].codes);
    // (x & 0x0F) ^ 0x08 in one instruction (truth table 0x6A).
    const __m512i even = _mm512_ternarylogic_epi32(codes, low_nibbles, eight, 0x6A);
    const __m512i odd =
        _mm512_ternarylogic_epi32(_mm512_srli_epi16(codes, 4), low_nibbles, eight, 0x6A);
    const __m512 w_scales = LaneScales(w[c].scales, scale_bytes, kind, lane_groups);
    for (int r = 0; r < kRows; ++r) {
      __m512i sums = _mm512_load_si512(a[r]->correction);
      sums = _mm512_dpbusd_epi32(sums, even, _mm512_load_si512(a[r]->even));
      sums = _mm512_dpbusd_epi32(sums, odd, _mm512_load_si512(a[r]->odd));
      const __m512 scale = _mm512_mul_ps(w_scales, _mm512_load_ps(a[r]->scales));
      acc[c][r] = _mm512_fmadd_ps(Int32ToFloat(sums), scale, acc[c][r]);
    }
  }
}

// C[m0.., n0..] (+)= rows x columns over k [k0, k0 + kc), of a slice that ends at n_end.
template <int kRows, int kCols>
void MultiplyColumns(const GemmArgs& args, int64_t m0, int64_t n0, int64_t n_end, int64_t k0,
                     int64_t kc, __m512i lane_groups) {
  const WeightsView& b = args.b;
  const int64_t groups = b.k / b.block;
  const int scale_bytes = b.scale_kind == ScaleKind::kBf16 ? 2 : 4;
  const int chunk_scale_bytes = static_cast<int>(kChunkK / b.block) * scale_bytes;
  __m512 acc[kCols][kRows];
  for (auto& column : acc) {
    for (__m512& v : column) v = _mm512_setzero_ps();
  }
  const ActivationChunk* a[kRows];
  const NextRowsPrefetch<kCols> next_rows(b, n0, n_end);
  const int64_t full_chunks = kc / kChunkK;
  for (int64_t chunk = 0; chunk < full_chunks; ++chunk) {
    WeightChunk w[kCols];
    for (int c = 0; c < kCols; ++c) {
      const int64_t kk = k0 + chunk * kChunkK;
      w[c].codes = b.codes + (n0 + c) * (b.k / 2) + kk / 2;
      w[c].scales = b.scales + ((n0 + c) * groups + kk / b.block) * scale_bytes;
    }
    next_rows.At((k0 + chunk * kChunkK) / 2);
    for (int r = 0; r < kRows; ++r) a[r] = &activation_chunks[r][chunk];
    MultiplyChunk<kRows, kCols>(w, a, chunk_scale_bytes, b.scale_kind, lane_groups, acc);
  }
  if (full_chunks * kChunkK < kc) {
    // A last chunk of fewer than 128 k.
    const int64_t kk = k0 + full_chunks * kChunkK;
    const int64_t rest = kc - full_chunks * kChunkK;
    PaddedChunk<kChunkK / 2, 16> padded[kCols];
    WeightChunk w[kCols];
    for (int c = 0; c < kCols; ++c) {
      padded[c].Copy(b.codes + (n0 + c) * (b.k / 2) + kk / 2, rest / 2,
                     b.scales + ((n0 + c) * groups + kk / b.block) * scale_bytes,
                     rest / b.block * scale_bytes);
      w[c] = {padded[c].codes, padded[c].scales};
    }
    for (int r = 0; r < kRows; ++r) a[r] = &activation_chunks[r][full_chunks];
    MultiplyChunk<kRows, kCols>(w, a, chunk_scale_bytes, b.scale_kind, lane_groups, acc);
  }
  for (int c = 0; c < kCols; ++c) {
    for (int r = 0; r < kRows; ++r) {
      float& out = args.c[(m0 + r) * args.ldc + n0 + c];
      const float sum = HorizontalSum(acc[c][r]);
      out = k0 == 0 ? sum : out + sum;
    }
  }
}

template <int kRows>
void MultiplyRows(const GemmArgs& args, int64_t m0, int64_t n_begin, int64_t n_end, int64_t k0,
                  int64_t kc, __m512i lane_groups) {
  ForEachColumnTile<kColumns>(n_begin, n_end, [&](auto columns, int64_t n0) {
    MultiplyColumns<kRows, decltype(columns)::value>(args, m0, n0, n_end, k0, kc, lane_groups);
  });
}

}  // namespace

void FP4MOE_MICROKERNEL(int4_w4a8_4x4_avx512)(const GemmArgs& args, int64_t n_begin,
                                                int64_t n_end) {
  if (!Int4GroupFitsSteps(args.b.block)) {
    int4_w4a8_scalar(args, n_begin, n_end);
    return;
  }
  const int64_t group = args.b.block;
  // Lane j covers k = 8j..8j+7 of a chunk: group 8j / G of the chunk's 128 / G.
  alignas(64) int32_t lane_group_index[16];
  for (int j = 0; j < 16; ++j) lane_group_index[j] = static_cast<int32_t>(8 * j / group);
  const __m512i lane_groups = _mm512_load_si512(lane_group_index);
  for (int64_t k0 = 0; k0 < args.b.k; k0 += kKBlock) {
    const int64_t kc = args.b.k - k0 < kKBlock ? args.b.k - k0 : kKBlock;
    for (int64_t m0 = 0; m0 < args.m; m0 += kMaxRows) {
      const int rows = args.m - m0 < kMaxRows ? static_cast<int>(args.m - m0) : kMaxRows;
      PrepareActivations(args, m0, rows, k0, kc, lane_groups);
      DispatchCount<kMaxRows>(rows, [&](auto tile_rows) {
        MultiplyRows<decltype(tile_rows)::value>(args, m0, n_begin, n_end, k0, kc, lane_groups);
      });
    }
  }
}

}  // namespace fp4moe::kernels
