// What the AMX instruction sequences our kernels are built from cost on this CPU, natively
// (skipped where the CPU has no AMX): the ceiling each kernel design can reach, before any
// format work. Every step is a 2 x 2 block: 4 tile products of 16 x 16 outputs over
// `k_bytes` bytes of k (64 fills the tiles; 32 is one INT4 K2 group of int8).
//
//   bazel run -c opt //benchmarks:amx_sequence_benchmark -- --benchmark_filter=...
//
// Sequences:
//   products/<k_bytes>/<fill>  tile products only, operands already in tiles (the TMUL
//                  peak); <fill> 0: operands all zero (as the peak probe's), 1: every byte 0x01
//                  (as the other sequences), 2: random (BF16 in [-1, 1], int8 any byte): whether
//                  the rate depends on the data the units multiply
//   loads/<bytes>  + the 2 A and 2 B tiles loaded per step from a buffer of <bytes> bytes
//                  (L1, L2 or beyond)
//   store          + the 4 accumulators zeroed and stored every step (a group-scaled format
//                  whose group is the tile depth)
//   store_scale    + the stored int32 sums converted and scaled into float accumulators with
//                  AVX-512 (one scale per column and group, one per row and group)
//   store_scale_interleaved  the same, each tile's scaling placed after one tile product
//   store_column_scale       interleaved, with column scales only (activation scales per
//                  row, not per group)
//   bf16/split/<a>/<b>/<c_every>/<prefetch>  BF16 products with A tiles from a buffer of <a>
//                  bytes and B tiles from one of <b> bytes (a design that keeps one operand in
//                  L1 and streams the other from L2 or beyond), the 4 accumulators stored to
//                  and reloaded from a contiguous 512 KB C buffer every <c_every> steps (0:
//                  never, C stays in the tiles over the whole k, as a k-blocked driver does
//                  not); with <prefetch> > 0 the tiles of buffers above 32 KB for the step that
//                  many ahead are prefetched into L1
//   bf16/product_rows/<rows>  tile products only, of A tiles (and C) of <rows> rows: whether a
//                  product of fewer rows (a few-row GEMM's activations as A) takes less time
//   the W4A16 drivers' step sequences (bf16/weight_rows, bf16/step_order, bf16/beside_vector):
//                  benchmarks/amx_driver_sequences.cc, in this binary
// Counters: TOPS (2 x 16 x 16 x k ops per product, all threads; TFLOPS for bf16) and
// ns_per_product (per thread). README's Performance section has the Xeon's figures.
#include <cstdint>
#include <cstring>

#include "benchmark/benchmark.h"
#include "benchmarks/amx_sequences.h"
#include "kernels/aligned_buffer.h"
#include "kernels/amx_helpers.h"
#include "kernels/amx_tile_config.h"
#include "kernels/avx512_helpers.h"
#include "kernels/cpu_features.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {
namespace {

enum class Sequence {
  kProducts,
  kLoads,
  kStore,
  kStoreScale,             // all 4 tiles scaled after the 4 products
  kStoreScaleInterleaved,  // tile t of the previous step scaled after product t
  kStoreColumnScale,       // interleaved, column scales only
};

struct ThreadBuffers {
  explicit ThreadBuffers(int64_t operand_bytes)
      : operands(operand_bytes), sums(2 * kProductsPerStep * 16 * 16 * sizeof(int32_t)),
        floats(32 * 32 * sizeof(float)) {
    std::memset(operands.data(), 1, operand_bytes);
  }
  AlignedBuffer operands;
  AlignedBuffer sums;    // two buffers of 4 int32 tiles
  AlignedBuffer floats;  // the 32 x 32 float accumulators of the block
};

// Int32 tile t of `sums` scaled into its quarter of the 32 x 32 float block (rows 16 (t / 2),
// columns 16 (t % 2)): by column scales times row scales, or (kColumnScalesOnly) by column
// scales alone, the row scales being applied once at the end of k.
template <bool kColumnScalesOnly>
[[gnu::always_inline]] inline void ScaleTile(int t, const int32_t* sums, float* block,
                                             const float* column_scales,
                                             const float* row_scales) {
  const __m512 w = _mm512_loadu_ps(column_scales + 16 * (t % 2));
#pragma GCC unroll 16
  for (int r = 0; r < 16; ++r) {
    float* out = block + (16 * (t / 2) + r) * 32 + 16 * (t % 2);
    const __m512 sum = Int32ToFloat(_mm512_load_si512(sums + (t * 16 + r) * 16));
    const __m512 scale =
        kColumnScalesOnly ? w : _mm512_mul_ps(w, _mm512_set1_ps(row_scales[16 * (t / 2) + r]));
    _mm512_store_ps(out, _mm512_fmadd_ps(sum, scale, _mm512_load_ps(out)));
  }
}

template <Sequence kSequence, bool kBf16>
void RunSequence(benchmark::State& state) {
  if (!DetectedCpuFeatures().amx) {
    state.SkipWithError("this CPU has no AMX");
    return;
  }
  const int k_bytes = static_cast<int>(state.range(0));
  const int64_t operand_bytes = kSequence == Sequence::kProducts ? 4096 : state.range(1);
  ThreadBuffers buffers(operand_bytes);
  if constexpr (kSequence == Sequence::kProducts) {
    FillOperands(static_cast<int>(state.range(1)), kBf16, buffers.operands);
  }
  const int64_t step_bytes = 4 * 16 * k_bytes;  // 2 A tiles, 2 B tiles
  const int64_t positions = operand_bytes / step_bytes;
  ConfigureTiles(k_bytes);
  auto* operands = static_cast<const uint8_t*>(buffers.operands.data());
  auto* sums = reinterpret_cast<int32_t*>(buffers.sums.data());
  auto* block = reinterpret_cast<float*>(buffers.floats.data());
  alignas(64) float column_scales[32], row_scales[32];
  for (int i = 0; i < 32; ++i) column_scales[i] = row_scales[i] = 1.0f / (i + 1);

  _tile_loadd(4, operands, k_bytes);
  _tile_loadd(5, operands + 16 * k_bytes, k_bytes);
  _tile_loadd(6, operands + 32 * k_bytes, 64);
  _tile_loadd(7, operands + 48 * k_bytes, 64);
  ZeroAccumulators();
  int64_t position = 0;
  int buffer = 0;
  for (auto _ : state) {
    for (int s = 0; s < kStepsPerIteration; ++s) {
      if constexpr (kSequence != Sequence::kProducts) {
        const uint8_t* step = operands + position * step_bytes;
        position = position + 1 == positions ? 0 : position + 1;
        _tile_loadd(4, step, k_bytes);
        _tile_loadd(5, step + 16 * k_bytes, k_bytes);
        _tile_loadd(6, step + 32 * k_bytes, 64);
        _tile_loadd(7, step + 48 * k_bytes, 64);
      }
      if constexpr (kSequence == Sequence::kProducts || kSequence == Sequence::kLoads) {
        TileProducts<kBf16>();
      } else {
        ZeroAccumulators();
        // The previous step's sums are scaled before this step's are stored over the other
        // buffer, as a pipelined kernel does.
        const int32_t* previous = sums + (buffer ^ 1) * kProductsPerStep * 256;
        constexpr bool kColumnOnly = kSequence == Sequence::kStoreColumnScale;
        if constexpr (kSequence == Sequence::kStoreScaleInterleaved ||
                      kSequence == Sequence::kStoreColumnScale) {
          _tile_dpbssd(0, 4, 6);
          ScaleTile<kColumnOnly>(0, previous, block, column_scales, row_scales);
          _tile_dpbssd(1, 4, 7);
          ScaleTile<kColumnOnly>(1, previous, block, column_scales, row_scales);
          _tile_dpbssd(2, 5, 6);
          ScaleTile<kColumnOnly>(2, previous, block, column_scales, row_scales);
          _tile_dpbssd(3, 5, 7);
          ScaleTile<kColumnOnly>(3, previous, block, column_scales, row_scales);
        } else {
          TileProducts<kBf16>();
          if constexpr (kSequence == Sequence::kStoreScale) {
            for (int t = 0; t < kProductsPerStep; ++t) {
              ScaleTile<false>(t, previous, block, column_scales, row_scales);
            }
          }
        }
        int32_t* out = sums + buffer * kProductsPerStep * 256;
        _tile_stored(0, out, 64);
        _tile_stored(1, out + 256, 64);
        _tile_stored(2, out + 512, 64);
        _tile_stored(3, out + 768, 64);
        buffer ^= 1;
      }
    }
  }
  if constexpr (kSequence == Sequence::kProducts) _tile_stored(0, sums, 64);
  benchmark::DoNotOptimize(sums[0]);
  benchmark::DoNotOptimize(block[0]);
  _tile_release();

  SetProductCounters(state, 2.0 * 16 * 16 * (kBf16 ? k_bytes / 2 : k_bytes));
}

// Bf16 products with the A and B tiles from separate buffers and C moved every few steps (see
// the header comment).
void RunSplitOperands(benchmark::State& state) {
  if (!DetectedCpuFeatures().amx) {
    state.SkipWithError("this CPU has no AMX");
    return;
  }
  const int64_t a_bytes = state.range(0);
  const int64_t b_bytes = state.range(1);
  const int c_every = static_cast<int>(state.range(2));
  const int prefetch = static_cast<int>(state.range(3));
  constexpr int64_t kCBytes = 512 << 10;
  constexpr int64_t kOperandStepBytes = 2 * 16 * 64;  // two tiles of one operand
  constexpr int64_t kCBlockBytes = 32 * 32 * sizeof(float);
  AlignedBuffer a(a_bytes), b(b_bytes), c(kCBytes);
  std::memset(a.data(), 1, a_bytes);
  std::memset(b.data(), 1, b_bytes);
  std::memset(c.data(), 0, kCBytes);
  ConfigureTiles(64);
  auto* a_tiles = static_cast<const uint8_t*>(a.data());
  auto* b_tiles = static_cast<const uint8_t*>(b.data());
  auto* c_blocks = static_cast<uint8_t*>(c.data());
  int64_t a_position = 0, b_position = 0, c_position = 0;
  const int64_t a_positions = a_bytes / kOperandStepBytes;
  const int64_t b_positions = b_bytes / kOperandStepBytes;
  ZeroAccumulators();
  int steps_since_c = 0;
  for (auto _ : state) {
    for (int s = 0; s < kStepsPerIteration; ++s) {
      const uint8_t* a_step = a_tiles + a_position * kOperandStepBytes;
      const uint8_t* b_step = b_tiles + b_position * kOperandStepBytes;
      a_position = a_position + 1 == a_positions ? 0 : a_position + 1;
      b_position = b_position + 1 == b_positions ? 0 : b_position + 1;
      if (prefetch != 0) {
        // The operands beyond L1 of the step `prefetch` ahead, into L1.
        const int64_t a_ahead = (a_position + prefetch - 1) % a_positions;
        const int64_t b_ahead = (b_position + prefetch - 1) % b_positions;
        for (int line = 0; line < 32; ++line) {
          if (a_bytes > (32 << 10)) {
            __builtin_prefetch(a_tiles + a_ahead * kOperandStepBytes + 64 * line, 0, 3);
          }
          if (b_bytes > (32 << 10)) {
            __builtin_prefetch(b_tiles + b_ahead * kOperandStepBytes + 64 * line, 0, 3);
          }
        }
      }
      _tile_loadd(4, a_step, 64);
      _tile_loadd(5, a_step + 1024, 64);
      _tile_loadd(6, b_step, 64);
      _tile_loadd(7, b_step + 1024, 64);
      TileProducts<true>();
      if (c_every != 0 && ++steps_since_c == c_every) {
        steps_since_c = 0;
        // This block's sums out, the next block's in (rows of 128 bytes: a 32 x 32 block).
        float* out = reinterpret_cast<float*>(c_blocks + c_position * kCBlockBytes);
        _tile_stored(0, out, 128);
        _tile_stored(1, out + 16, 128);
        _tile_stored(2, out + 512, 128);
        _tile_stored(3, out + 528, 128);
        c_position = c_position + 1 == kCBytes / kCBlockBytes ? 0 : c_position + 1;
        const float* in = reinterpret_cast<const float*>(c_blocks + c_position * kCBlockBytes);
        _tile_loadd(0, in, 128);
        _tile_loadd(1, in + 16, 128);
        _tile_loadd(2, in + 512, 128);
        _tile_loadd(3, in + 528, 128);
      }
    }
  }
  _tile_stored(0, c_blocks, 128);
  benchmark::DoNotOptimize(c_blocks[0]);
  _tile_release();
  SetProductCounters(state, 2.0 * 16 * 16 * 32);
}

// BF16 products of A and C tiles of `rows` rows (see the header comment); ops counted for them.
void RunProductRows(benchmark::State& state) {
  if (!DetectedCpuFeatures().amx) {
    state.SkipWithError("this CPU has no AMX");
    return;
  }
  const int rows = static_cast<int>(state.range(0));
  AlignedBuffer operands(4096);
  std::memset(operands.data(), 1, 4096);
  TileConfig config;
  for (int t = 0; t < 8; ++t) {
    config.rows[t] = static_cast<uint8_t>(t < 6 ? rows : 16);
    config.column_bytes[t] = 64;
  }
  LoadTileConfig(config);
  const auto* a = static_cast<const uint8_t*>(operands.data());
  _tile_loadd(4, a, 64);
  _tile_loadd(5, a, 64);
  _tile_loadd(6, a, 64);
  _tile_loadd(7, a, 64);
  ZeroAccumulators();
  for (auto _ : state) {
    for (int s = 0; s < kStepsPerIteration; ++s) TileProducts<true>();
  }
  alignas(64) float sums[16 * 16];
  _tile_stored(0, sums, 64);
  benchmark::DoNotOptimize(sums[0]);
  _tile_release();
  SetProductCounters(state, 2.0 * rows * 16 * 32);
}

BENCHMARK(RunSequence<Sequence::kProducts, false>)
    ->Name("int8/products")->ArgNames({"k_bytes", "fill"})->ArgsProduct({{64, 32}, {0, 1, 2}})
    ->Apply(Threads);
BENCHMARK(RunSequence<Sequence::kProducts, true>)
    ->Name("bf16/products")->ArgNames({"k_bytes", "fill"})->ArgsProduct({{64}, {0, 1, 2}})
    ->Apply(Threads);
BENCHMARK(RunSequence<Sequence::kLoads, false>)
    ->Name("int8/loads")->ArgNames({"k_bytes", "bytes"})
    ->ArgsProduct({{64, 32}, {16 << 10, 512 << 10, 8 << 20}})->Apply(Threads);
BENCHMARK(RunSequence<Sequence::kLoads, true>)
    ->Name("bf16/loads")->ArgNames({"k_bytes", "bytes"})
    ->ArgsProduct({{64}, {16 << 10, 512 << 10, 8 << 20}})->Apply(Threads);
BENCHMARK(RunSequence<Sequence::kStore, false>)
    ->Name("int8/store")->ArgNames({"k_bytes", "bytes"})->Args({32, 16 << 10})->Apply(Threads);
BENCHMARK(RunSequence<Sequence::kStoreScale, false>)
    ->Name("int8/store_scale")->ArgNames({"k_bytes", "bytes"})->Args({32, 16 << 10})
    ->Apply(Threads);
BENCHMARK(RunSequence<Sequence::kStoreScaleInterleaved, false>)
    ->Name("int8/store_scale_interleaved")->ArgNames({"k_bytes", "bytes"})->Args({32, 16 << 10})
    ->Apply(Threads);
BENCHMARK(RunSequence<Sequence::kStoreColumnScale, false>)
    ->Name("int8/store_column_scale")->ArgNames({"k_bytes", "bytes"})->Args({32, 16 << 10})
    ->Apply(Threads);
BENCHMARK(RunSplitOperands)
    ->Name("bf16/split")->ArgNames({"a", "b", "c_every", "prefetch"})
    ->ArgsProduct({{16 << 10, 512 << 10}, {16 << 10, 512 << 10, 8 << 20}, {0, 8, 16, 64},
                   {0, 2}})
    ->Apply(Threads);
BENCHMARK(RunProductRows)
    ->Name("bf16/product_rows")->ArgNames({"rows"})->Arg(4)->Arg(8)->Arg(16)->Apply(Threads);

}  // namespace
}  // namespace fp4moe::kernels

BENCHMARK_MAIN();
