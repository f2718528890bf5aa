// A compared variant of fp4_w4a8_4x4_avx512 (never dispatched; microkernel_test checks it,
// gemm_benchmark names it and gives it weights by row blocks): where the buffer keeps the
// weights by row blocks (WeightsView::row_block_codes), each step of k takes a whole block of 32
// weight rows (4 windows of 64 k: 4.5 KB in a row), so that the block is read once, in order, as
// one stream of codes and one of scales. Each weight row's step is decoded once for up to 64 rows
// of A, whose sums stay in L1 scratch (a row-major tile of columns would read a few lines of
// each window, which no prefetcher follows: 4x slower from DRAM on Zen 4). Without row blocks,
// as the kernel. The same steps (kernels/fp4_w4a8_avx512_steps.h), in the same order per
// output: the same bits.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/avx512_helpers.h"
#include "kernels/fp4_w4a8_avx512_steps.h"
#include "kernels/int8_tile_driver.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"
#include "kernels/tile_dispatch.h"

namespace fp4moe::kernels {
namespace {

constexpr int64_t kWindowCodeBytes = kRowBlockRows * kColumnWindowK / 2;
constexpr int64_t kWindowScaleBytes = kRowBlockRows * kColumnWindowK / 16;
constexpr int kStepWindows = 4;  // a step of the kernel, 256 k
static_assert(Fp4W4a8Avx512<ScaleKind::kE4M3>::kChunk == kStepWindows * kColumnWindowK);
constexpr int64_t kStepCodeBytes = kStepWindows * kWindowCodeBytes;
constexpr int64_t kStepScaleBytes = kStepWindows * kWindowScaleBytes;
// What a step's prefetches take per weight row: two code lines, and the first 8 rows a scale
// line each.
constexpr int64_t kRowCodeLines = kStepCodeBytes / kRowBlockRows / 64;
constexpr int64_t kScaleLines = kStepScaleBytes / 64;
static_assert(kRowCodeLines == 2 && kScaleLines <= kRowBlockRows);
// A step reads its 4 KB of codes as 4 windows, a few bytes of each per weight row, jumping
// between them: on a new 4 KB page every step, which the hardware prefetchers do not follow in
// time. So each step prefetches, row by row, the whole step this many steps ahead.
constexpr int64_t kPrefetchSteps = 2;

// One weight row's step from `windows` windows of its block (the row's 32 code bytes and 4
// scale bytes in each, `codes` and `scales` at the first), the rest of the step zero: what the
// kernel decodes from the rows' 128 code bytes and 16 scales.
template <ScaleKind kKind>
[[gnu::always_inline]] inline typename Fp4W4a8Avx512<kKind>::Weights BlockRowStep(
    const uint8_t* codes, const uint8_t* scales, int windows) {
  __m256i quarter[kStepWindows];
  uint32_t scale_words[kStepWindows];
  for (int w = 0; w < kStepWindows; ++w) {
    quarter[w] = w < windows ? _mm256_loadu_si256(
                                   reinterpret_cast<const __m256i*>(codes + w * kWindowCodeBytes))
                             : _mm256_setzero_si256();
    scale_words[w] = 0;
    if (w < windows) std::memcpy(&scale_words[w], scales + w * kWindowScaleBytes, 4);
  }
  const __m512i first = _mm512_inserti64x4(_mm512_castsi256_si512(quarter[0]), quarter[1], 1);
  const __m512i second = _mm512_inserti64x4(_mm512_castsi256_si512(quarter[2]), quarter[3], 1);
  const __m128i scale_bytes =
      _mm_setr_epi32(static_cast<int>(scale_words[0]), static_cast<int>(scale_words[1]),
                     static_cast<int>(scale_words[2]), static_cast<int>(scale_words[3]));
  return Fp4W4a8Avx512<kKind>::DecodeWeights(first, second,
                                             DecodeBlockScaleBytes<kKind>(scale_bytes));
}

// C[:, n_begin..n_end) from the row blocks (one-byte scales, k a multiple of kColumnWindowK).
template <ScaleKind kKind>
void MultiplyRowBlocks(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  using K = Fp4W4a8Avx512<kKind>;
  const K kernel;
  const WeightsView& b = args.b;
  const int64_t windows = b.k / kColumnWindowK;
  const int64_t steps = (windows + kStepWindows - 1) / kStepWindows;
  const PreparedRowBlocks<K> row_blocks(
      args, steps,
      static_cast<size_t>(PreparedRowBlocks<K>::RowBlock(args.m) * kRowBlockRows) *
          sizeof(__m512));
  auto* sums = reinterpret_cast<__m512*>(row_blocks.extra());
  const float output_scale = kernel.OutputScale(b);
  row_blocks.ForEach(kernel, [&](int64_t first_row, int64_t rows, const PreparedChunk* prepared) {
    for (int64_t block = n_begin / kRowBlockRows; block * kRowBlockRows < n_end; ++block) {
      const int64_t block_begin = block * kRowBlockRows;
      // The block's weight rows this call owns.
      const int first = static_cast<int>(std::max(n_begin, block_begin) - block_begin);
      const int end =
          static_cast<int>(std::min(n_end, block_begin + kRowBlockRows) - block_begin);
      for (int64_t i = 0; i < rows * kRowBlockRows; ++i) sums[i] = K::Zero();
      const uint8_t* codes = b.row_block_codes + block * windows * kWindowCodeBytes;
      const uint8_t* scales = b.row_block_scales + block * windows * kWindowScaleBytes;
      for (int64_t step = 0; step < steps; ++step) {
        const int64_t first_window = step * kStepWindows;
        const uint8_t* step_codes = codes + first_window * kWindowCodeBytes;
        const uint8_t* step_scales = scales + first_window * kWindowScaleBytes;
        // The step kPrefetchSteps ahead (in this block or the next), as each weight row decodes
        // (see kPrefetchSteps).
        const uint8_t* codes_ahead = step_codes + kPrefetchSteps * kStepCodeBytes;
        const uint8_t* scales_ahead = step_scales + kPrefetchSteps * kStepScaleBytes;
        // kColumns weight rows from `col` into every row's sums, the rows' prepared steps
        // loaded once for all of them.
        const auto multiply_columns = [&](auto columns, int col, auto step_windows) {
          constexpr int kColumns = decltype(columns)::value;
          typename K::Weights w[kColumns];
          for (int j = 0; j < kColumns; ++j) {
            for (int line = 0; line < kRowCodeLines; ++line) {
              __builtin_prefetch(codes_ahead + 64 * (kRowCodeLines * (col + j) + line), 0, 3);
            }
            if (col + j < kScaleLines) __builtin_prefetch(scales_ahead + 64 * (col + j), 0, 3);
            w[j] = BlockRowStep<kKind>(step_codes + (col + j) * kColumnWindowK / 2,
                                       step_scales + (col + j) * kColumnWindowK / 16,
                                       step_windows);
          }
          for (int64_t r = 0; r < rows; ++r) {
            const PreparedChunk& a = prepared[r * steps + step];
            __m512* row_sums = sums + r * kRowBlockRows + col;
            __m512 updated[kColumns];
            for (int j = 0; j < kColumns; ++j) updated[j] = K::Add(w[j], a, row_sums[j]);
            for (int j = 0; j < kColumns; ++j) row_sums[j] = updated[j];
          }
        };
        const auto multiply = [&](auto step_windows) {
          int col = first;
          for (; col + 2 <= end; col += 2) {
            multiply_columns(std::integral_constant<int, 2>{}, col, step_windows);
          }
          if (col < end) multiply_columns(std::integral_constant<int, 1>{}, col, step_windows);
        };
        const int64_t step_windows = windows - first_window;
        if (step_windows >= kStepWindows) {
          multiply(std::integral_constant<int, kStepWindows>{});
        } else {
          multiply(static_cast<int>(step_windows));
        }
      }
      for (int64_t r = 0; r < rows; ++r) {
        float* c = args.c + (first_row + r) * args.ldc + block_begin;
        for (int col = first; col < end; ++col) {
          c[col] = K::Sum(sums[r * kRowBlockRows + col]) * output_scale;
        }
      }
    }
  });
}

}  // namespace

void FP4MOE_MICROKERNEL(fp4_w4a8_rowblocks_64x32_avx512)(const GemmArgs& args, int64_t n_begin,
                                                          int64_t n_end) {
  DispatchFp4ScaleKind(args.b.scale_kind, [&](auto kind) {
    constexpr ScaleKind kKind = decltype(kind)::value;
    if constexpr (kKind != ScaleKind::kFloat32) {
      if (args.b.row_block_codes != nullptr) {
        MultiplyRowBlocks<kKind>(args, n_begin, n_end);
        return;
      }
    }
    MultiplyInt8(Fp4W4a8Avx512<kKind>(), args, n_begin, n_end);
  });
}

}  // namespace fp4moe::kernels
