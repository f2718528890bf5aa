// INT4 K2 weights x int8 activations with AVX-512 VNNI, for small m (decode), where weight
// bandwidth is everything: 4 weight rows (columns of C) x up to 4 activation rows per pass.
//
// A step takes 512 k of a weight row: 256 code bytes in four 64-byte vectors, each holding four
// 32-k runs (one group when G = 32) of 16 bytes. A 4 x 4 dword transpose within each 128-bit
// lane gives four vectors whose dword lane 4q + p holds, in each, a quarter of run q of vector
// p: so every int32 lane sums one 32-k run, which lies in one group (Int4GroupFitsSteps), and
// 16 runs take one int-to-float conversion and one scaling per row and column. Low nibbles
// (even k) and high nibbles (odd k) are masked out and XORed with 8, which turns the
// two's-complement nibble q into q + 8 in [0, 16): the unsigned operand of VPDPBUSD, against
// activations reordered the same way once per call. The exact correction -8 * (sum of the
// activations a lane covers) seeds the accumulator, so the lanes hold exact run sums.
//
// Products of more than 16 rows (prefill without AMX) take a second loop that decodes each
// column tile's steps once per 64-row block instead of once per 4-row pass (MultiplyManyRows).
#include <cstdint>
#include <cstring>

#include "kernels/avx512_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/thread_scratch.h"
#include "kernels/tile_dispatch.h"
#include "kernels/tile_loops.h"

namespace fp4moe::kernels {
namespace {

constexpr int kMaxRows = 4;
constexpr int kColumns = 4;
constexpr int kStepK = 512;  // k per 256 code bytes
constexpr int kRunK = 32;    // k per int32 lane
constexpr int kOperands = 8;  // VNNI operands per step: 4 transposed vectors x 2 nibbles
constexpr int64_t kKBlock = 8192;
constexpr int kStepsPerBlock = kKBlock / kStepK;

// The activations of one pass (up to kMaxRows rows) over one k block, per 512-k step.
struct ActivationStep {
  alignas(64) int8_t operand[kOperands][64];  // 2j: even k of transposed vector j, 2j + 1: odd
  alignas(64) int32_t correction[16];          // lane L: -8 * the sum of its run
  alignas(64) float scales[16];                // lane L: the scale of its run's group
};
thread_local ActivationStep activation_steps[kMaxRows][kStepsPerBlock];

// v[j] dword p of 128-bit lane q <- v[p] dword j of lane q (the transpose of each lane's 4 x 4
// dwords): for the code or activation bytes of a step, dword lane 4q + p of out[j] holds bytes
// 4j..4j+3 of run q of vector p.
[[gnu::always_inline]] inline void TransposeLanes(__m512i (&v)[4]) {
  const __m512i t0 = _mm512_unpacklo_epi32(v[0], v[1]);
  const __m512i t1 = _mm512_unpackhi_epi32(v[0], v[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(v[2], v[3]);
  const __m512i t3 = _mm512_unpackhi_epi32(v[2], v[3]);
  v[0] = _mm512_unpacklo_epi64(t0, t2);
  v[1] = _mm512_unpackhi_epi64(t0, t2);
  v[2] = _mm512_unpacklo_epi64(t1, t3);
  v[3] = _mm512_unpackhi_epi64(t1, t3);
}

// The run of a step that lane 4q + p covers after TransposeLanes: run 4p + q.
constexpr int RunOfLane(int lane) { return 4 * (lane % 4) + lane / 4; }

// Lane L: the k offset of its run in the step.
__m512i LaneRunK() {
  alignas(64) int32_t k[16];
  for (int lane = 0; lane < 16; ++lane) k[lane] = kRunK * RunOfLane(lane);
  return _mm512_load_si512(k);
}

// Splits rows [m0, m0 + rows) x k [k0, k0 + kc) into steps, row r's at out + r *
// kStepsPerBlock; k past kc reads as zero.
// Vectorised: the MoE decode path calls the kernel once per 64-column slice, so this runs
// over the whole k for every 64 weight rows (a scalar loop cost a third of the streaming).
void PrepareActivations(const GemmArgs& args, int64_t m0, int rows, int64_t k0, int64_t kc,
                        __m512i lane_groups, ActivationStep* out_steps) {
  const int64_t k = args.b.k;
  const int64_t group = args.b.block;
  const int64_t groups = k / group;
  // Byte i of `even` is byte 2i of 128 (two 64-byte vectors), of `odd` byte 2i + 1.
  alignas(64) int8_t even_index[64], odd_index[64];
  for (int i = 0; i < 64; ++i) {
    even_index[i] = static_cast<int8_t>(2 * i);
    odd_index[i] = static_cast<int8_t>(2 * i + 1);
  }
  const __m512i evens = _mm512_load_si512(even_index);
  const __m512i odds = _mm512_load_si512(odd_index);
  const __m512i ones = _mm512_set1_epi8(1);
  const __m512i lane_k = LaneRunK();
  for (int r = 0; r < rows; ++r) {
    const int8_t* a = args.a_int8.values + (m0 + r) * k + k0;
    const float* a_scales = args.a_int8.scales + (m0 + r) * groups;
    for (int64_t step = 0; step * kStepK < kc; ++step) {
      ActivationStep& out = out_steps[r * kStepsPerBlock + step];
      const int64_t kk = step * kStepK;
      alignas(64) int8_t padded[kStepK];
      const int8_t* source = ZeroPaddedIfShort(a + kk, kc - kk, padded);
      // Vector p of the even (odd) k holds 128 k of the step, as the code bytes do.
      __m512i even[4], odd[4];
      for (int p = 0; p < 4; ++p) {
        const __m512i low = _mm512_loadu_si512(source + 128 * p);
        const __m512i high = _mm512_loadu_si512(source + 128 * p + 64);
        even[p] = _mm512_permutex2var_epi8(low, evens, high);
        odd[p] = _mm512_permutex2var_epi8(low, odds, high);
      }
      TransposeLanes(even);
      TransposeLanes(odd);
      __m512i sums = _mm512_setzero_si512();
      for (int j = 0; j < 4; ++j) {
        _mm512_store_si512(out.operand[2 * j], even[j]);
        _mm512_store_si512(out.operand[2 * j + 1], odd[j]);
        sums = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(sums, ones, even[j]), ones, odd[j]);
      }
      _mm512_store_si512(out.correction,
                         _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sums, 3)));
      // Lane L takes the scale of its run's group among the step's; lanes past kc are zero.
      const int64_t first_group = (k0 + kk) / group;
      float padded_scales[16];
      const __m512 step_scales = _mm512_loadu_ps(
          ZeroPaddedIfShort(a_scales + first_group, groups - first_group, padded_scales));
      const __mmask16 inside =
          _mm512_cmpgt_epi32_mask(_mm512_set1_epi32(static_cast<int>(kc - kk)), lane_k);
      _mm512_store_ps(out.scales,
                      _mm512_maskz_permutexvar_ps(inside, lane_groups, step_scales));
    }
  }
}

// Where one weight row's step lies: its code bytes (256 but in a last, partial step) and scales.
struct WeightStep {
  const uint8_t* codes;
  const uint8_t* scales;
};

// Exactly `bytes` (at most 64) bytes of scales, zero above: none past the end of the array.
__m512i LoadScaleBytes(const uint8_t* scales, int bytes) {
  // Inserted into zeros: a cast from a narrower vector leaves the upper lanes undefined.
  const __m512i zero = _mm512_setzero_si512();
  switch (bytes) {
    case 64:
      return _mm512_loadu_si512(scales);
    case 32:
      return _mm512_inserti64x4(zero, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales)),
                                0);
    case 16:
      return _mm512_inserti32x4(zero, _mm_loadu_si128(reinterpret_cast<const __m128i*>(scales)),
                                0);
    case 8:
      return _mm512_inserti32x4(zero, _mm_loadl_epi64(reinterpret_cast<const __m128i*>(scales)),
                                0);
    case 4:
    case 2: {
      uint32_t word = 0;
      std::memcpy(&word, scales, bytes);
      return _mm512_inserti32x4(zero, _mm_cvtsi32_si128(static_cast<int>(word)), 0);
    }
    default: {
      // The odd count of a last, partial step.
      alignas(64) uint8_t padded[64] = {};
      std::memcpy(padded, scales, bytes);
      return _mm512_load_si512(padded);
    }
  }
}

// Code vector p (64 bytes) of a step of `bytes` code bytes: loaded where whole, zero-padded
// where partial, zero past the end (a last, partial step reads nothing past its row).
[[gnu::always_inline]] inline __m512i LoadCodes(const uint8_t* codes, int p, int bytes) {
  const int left = bytes - 64 * p;
  if (left >= 64) return _mm512_loadu_si512(codes + 64 * p);
  alignas(64) uint8_t padded[64] = {};
  if (left > 0) std::memcpy(padded, codes + 64 * p, left);
  return _mm512_load_si512(padded);
}

// The weight scales of one step spread over the 16 lanes (lane L -> its run's group).
__m512 LaneScales(const uint8_t* scales, int bytes, ScaleKind kind, __m512i lane_groups) {
  const __m512i raw = LoadScaleBytes(scales, bytes);
  if (kind == ScaleKind::kBf16) {
    // Dword L's index g, read as two word indices, puts BF16 scale g in the low half of
    // dword L; shifted to the high half, its bits are those of the float.
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_permutexvar_epi16(lane_groups, raw), 16));
  }
  return _mm512_castsi512_ps(_mm512_permutexvar_epi32(lane_groups, raw));
}

// The weight operands of one column's step: its codes as the 8 VNNI operands (q + 8), and its
// lane scales (kept in scratch by the many-row path).
struct ColumnOperands {
  __m512i operand[kOperands];
  __m512 scales;
};

[[gnu::always_inline]] inline ColumnOperands DecodeColumn(const WeightStep& w, int code_bytes,
                                                          int scale_bytes, ScaleKind kind,
                                                          __m512i lane_groups) {
  const __m512i low_nibbles = _mm512_set1_epi8(0x0F);
  const __m512i eight = _mm512_set1_epi8(0x08);
  __m512i codes[4];
  for (int p = 0; p < 4; ++p) codes[p] = LoadCodes(w.codes, p, code_bytes);
  TransposeLanes(codes);
  ColumnOperands out;
  for (int j = 0; j < 4; ++j) {
    // (x & 0x0F) ^ 0x08 in one instruction (truth table 0x6A).
    out.operand[2 * j] = _mm512_ternarylogic_epi32(codes[j], low_nibbles, eight, 0x6A);
    out.operand[2 * j + 1] =
        _mm512_ternarylogic_epi32(_mm512_srli_epi16(codes[j], 4), low_nibbles, eight, 0x6A);
  }
  out.scales = LaneScales(w.scales, scale_bytes, kind, lane_groups);
  return out;
}

// acc[r] += one column's step (its exact lane sums x lane scales) for kRows rows. Inlined so
// that acc stays in registers (called out of line, it loaded and stored every accumulator per
// step).
template <int kRows>
[[gnu::always_inline]] inline void AddRows(const ColumnOperands& w,
                                           const ActivationStep* const (&a)[kRows],
                                           __m512 (&acc)[kRows]) {
  for (int r = 0; r < kRows; ++r) {
    // Two chains of dependent VPDPBUSDs, not one: 2 to 3% faster on Zen 4 at 32 and 128 rows.
    __m512i sums = _mm512_load_si512(a[r]->correction);
    __m512i odd_sums = _mm512_setzero_si512();
    for (int o = 0; o < kOperands; o += 2) {
      sums = _mm512_dpbusd_epi32(sums, w.operand[o], _mm512_load_si512(a[r]->operand[o]));
      odd_sums = _mm512_dpbusd_epi32(odd_sums, w.operand[o + 1],
                                     _mm512_load_si512(a[r]->operand[o + 1]));
    }
    sums = _mm512_add_epi32(sums, odd_sums);
    const __m512 scale = _mm512_mul_ps(w.scales, _mm512_load_ps(a[r]->scales));
    acc[r] = _mm512_fmadd_ps(Int32ToFloat(sums), scale, acc[r]);
  }
}

// acc[c][r] += the step's exact lane sums x lane scales.
template <int kRows, int kCols>
[[gnu::always_inline]] inline void MultiplyStep(const WeightStep (&w)[kCols],
                                                const ActivationStep* const (&a)[kRows],
                                                int code_bytes, int scale_bytes, ScaleKind kind,
                                                __m512i lane_groups,
                                                __m512 (&acc)[kCols][kRows]) {
  for (int c = 0; c < kCols; ++c) {
    AddRows<kRows>(DecodeColumn(w[c], code_bytes, scale_bytes, kind, lane_groups), a, acc[c]);
  }
}

// Where the weights of a slice's steps lie: column n's step at k kk, and the scale bytes of a
// whole step (it holds 512 / G groups, or lies in one).
struct WeightSteps {
  explicit WeightSteps(const WeightsView& b)
      : b(b),
        groups(b.k / b.block),
        scale_bytes(b.scale_kind == ScaleKind::kBf16 ? 2 : 4),
        step_scale_bytes(static_cast<int>(b.block < kStepK ? kStepK / b.block : 1) *
                         scale_bytes) {}

  WeightStep At(int64_t n, int64_t kk) const {
    return {b.codes + n * (b.k / 2) + kk / 2,
            b.scales + (n * groups + kk / b.block) * scale_bytes};
  }
  // The scale bytes of a last step of `rest` k (fewer than 512: then G < 512 and it holds whole
  // groups).
  int TailScaleBytes(int rest) const { return static_cast<int>(rest / b.block) * scale_bytes; }

  const WeightsView& b;
  int64_t groups;
  int scale_bytes;
  int step_scale_bytes;
};

// C[m0.., n0..] (+)= the sums of rows x columns over the k block from k0.
template <int kRows, int kCols>
void StoreSums(const GemmArgs& args, int64_t m0, int64_t n0, int64_t k0,
               const __m512 (&acc)[kCols][kRows]) {
  for (int c = 0; c < kCols; ++c) {
    for (int r = 0; r < kRows; ++r) {
      float& out = args.c[(m0 + r) * args.ldc + n0 + c];
      const float sum = HorizontalSum(acc[c][r]);
      out = k0 == 0 ? sum : out + sum;
    }
  }
}

// step(index, w, code_bytes, scale_bytes) for each step of the kCols columns from n0 over k
// [k0, k0 + kc) (w: the columns' WeightSteps): the whole steps, each after prefetching the next
// column tile's codes of it, then a last one of fewer than 512 k, read in place. Inlined, so
// that the whole steps' byte counts stay constants.
template <int kCols, typename Step>
[[gnu::always_inline]] inline void ForEachStep(const WeightsView& b, int64_t n0, int64_t n_end,
                                               int64_t k0, int64_t kc, Step&& step) {
  const WeightSteps steps(b);
  const NextRowsPrefetch<kCols> next_rows(b, n0, n_end);
  const auto columns_at = [&](int64_t index, WeightStep (&w)[kCols]) {
    for (int c = 0; c < kCols; ++c) w[c] = steps.At(n0 + c, k0 + index * kStepK);
  };
  const int64_t full_steps = kc / kStepK;
  for (int64_t index = 0; index < full_steps; ++index) {
    WeightStep w[kCols];
    columns_at(index, w);
    next_rows.At((k0 + index * kStepK) / 2, kStepK / 2);
    step(index, w, kStepK / 2, steps.step_scale_bytes);
  }
  if (full_steps * kStepK < kc) {
    const int rest = static_cast<int>(kc - full_steps * kStepK);
    WeightStep w[kCols];
    columns_at(full_steps, w);
    step(full_steps, w, rest / 2, steps.TailScaleBytes(rest));
  }
}

// C[m0.., n0..] (+)= rows x columns over k [k0, k0 + kc), of a slice that ends at n_end.
template <int kRows, int kCols>
void MultiplyColumns(const GemmArgs& args, int64_t m0, int64_t n0, int64_t n_end, int64_t k0,
                     int64_t kc, __m512i lane_groups) {
  __m512 acc[kCols][kRows];
  for (auto& column : acc) {
    for (__m512& v : column) v = _mm512_setzero_ps();
  }
  ForEachStep<kCols>(args.b, n0, n_end, k0, kc,
                     [&](int64_t step, const WeightStep (&w)[kCols], int code_bytes,
                         int scale_bytes) {
                       const ActivationStep* a[kRows];
                       for (int r = 0; r < kRows; ++r) a[r] = &activation_steps[r][step];
                       MultiplyStep<kRows, kCols>(w, a, code_bytes, scale_bytes,
                                                  args.b.scale_kind, lane_groups, acc);
                     });
  StoreSums<kRows, kCols>(args, m0, n0, k0, acc);
}

template <int kRows>
void MultiplyRows(const GemmArgs& args, int64_t m0, int64_t n_begin, int64_t n_end, int64_t k0,
                  int64_t kc, __m512i lane_groups) {
  ForEachColumnTile<kColumns>(n_begin, n_end, [&](auto columns, int64_t n0) {
    MultiplyColumns<kRows, decltype(columns)::value>(args, m0, n0, n_end, k0, kc, lane_groups);
  });
}

// Many rows: a block of kRowBlock rows is prepared at once, and each column tile's weights are
// decoded once per block into scratch (step by step, the tile's columns side by side), which
// every 4-row pass then loads back; the passes above decode and read each weight once per 4
// rows. On Zen 4, one thread, weights cached: 11% faster at 128 rows, 4 to 7% at 32. The
// few-row loop above stays as it is: one loop for both cost 15 to 20% at 1 and 2 rows.
constexpr int64_t kManyRows = 16;  // products of more rows than this
constexpr int kRowBlock = 64;

// The steps of columns [n0, n0 + kCols) over k [k0, k0 + kc), decoded into out[step * kCols +
// column]; the next column tile's codes are prefetched meanwhile.
template <int kCols>
void DecodeColumnTile(const GemmArgs& args, int64_t n0, int64_t n_end, int64_t k0, int64_t kc,
                      __m512i lane_groups, ColumnOperands* out) {
  ForEachStep<kCols>(args.b, n0, n_end, k0, kc,
                     [&](int64_t step, const WeightStep (&w)[kCols], int code_bytes,
                         int scale_bytes) {
                       for (int c = 0; c < kCols; ++c) {
                         out[step * kCols + c] = DecodeColumn(w[c], code_bytes, scale_bytes,
                                                              args.b.scale_kind, lane_groups);
                       }
                     });
}

// C[m0.., n0..] (+)= kRows prepared rows (row r's steps at prepared + r * kStepsPerBlock) x
// kCols decoded columns over k [k0, k0 + kc).
template <int kRows, int kCols>
void MultiplyDecoded(const GemmArgs& args, int64_t m0, int64_t n0, int64_t k0, int64_t kc,
                     const ActivationStep* prepared, const ColumnOperands* decoded) {
  __m512 acc[kCols][kRows];
  for (auto& column : acc) {
    for (__m512& v : column) v = _mm512_setzero_ps();
  }
  const int64_t step_count = (kc + kStepK - 1) / kStepK;
  for (int64_t step = 0; step < step_count; ++step) {
    const ActivationStep* a[kRows];
    for (int r = 0; r < kRows; ++r) a[r] = prepared + r * kStepsPerBlock + step;
    for (int c = 0; c < kCols; ++c) AddRows<kRows>(decoded[step * kCols + c], a, acc[c]);
  }
  StoreSums<kRows, kCols>(args, m0, n0, k0, acc);
}

// C[:, n_begin..n_end) for more than kManyRows rows, over the k block [k0, k0 + kc).
void MultiplyManyRows(const GemmArgs& args, int64_t n_begin, int64_t n_end, int64_t k0,
                      int64_t kc, __m512i lane_groups) {
  constexpr size_t kPreparedBytes = sizeof(ActivationStep) * kRowBlock * kStepsPerBlock;
  auto* scratch = static_cast<char*>(
      ThreadScratch(kPreparedBytes + sizeof(ColumnOperands) * kStepsPerBlock * kColumns));
  auto* prepared = reinterpret_cast<ActivationStep*>(scratch);
  auto* decoded = reinterpret_cast<ColumnOperands*>(scratch + kPreparedBytes);
  ForEachRowBlock(args.m, kRowBlock, [&](int64_t m0, int64_t rows) {
    PrepareActivations(args, m0, static_cast<int>(rows), k0, kc, lane_groups, prepared);
    ForEachColumnTile<kColumns>(n_begin, n_end, [&](auto columns, int64_t n0) {
      constexpr int kCols = decltype(columns)::value;
      DecodeColumnTile<kCols>(args, n0, n_end, k0, kc, lane_groups, decoded);
      ForEachRowTile<kMaxRows>(rows, [&](auto tile_rows, int64_t r) {
        MultiplyDecoded<decltype(tile_rows)::value, kCols>(
            args, m0 + r, n0, k0, kc, prepared + r * kStepsPerBlock, decoded);
      });
    });
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
  // Lane L: the group of its run among the step's.
  alignas(64) int32_t lane_group_index[16];
  for (int lane = 0; lane < 16; ++lane) {
    lane_group_index[lane] = static_cast<int32_t>(kRunK * RunOfLane(lane) / group);
  }
  const __m512i lane_groups = _mm512_load_si512(lane_group_index);
  for (int64_t k0 = 0; k0 < args.b.k; k0 += kKBlock) {
    const int64_t kc = args.b.k - k0 < kKBlock ? args.b.k - k0 : kKBlock;
    if (args.m > kManyRows) {
      MultiplyManyRows(args, n_begin, n_end, k0, kc, lane_groups);
      continue;
    }
    for (int64_t m0 = 0; m0 < args.m; m0 += kMaxRows) {
      const int rows = args.m - m0 < kMaxRows ? static_cast<int>(args.m - m0) : kMaxRows;
      PrepareActivations(args, m0, rows, k0, kc, lane_groups, &activation_steps[0][0]);
      DispatchCount<kMaxRows>(rows, [&](auto tile_rows) {
        MultiplyRows<decltype(tile_rows)::value>(args, m0, n_begin, n_end, k0, kc, lane_groups);
      });
    }
  }
}

}  // namespace fp4moe::kernels
