// The W4A16 AMX drivers' tile steps for //benchmarks:amx_sequence_benchmark (the binary's
// header comment says how to run it and what its counters mean):
//
//   bf16/weight_rows/<b>/<order>/<stores>  the scaled-code-table driver's steps
//                  (kernels/e2m1_w4a16_amx_tables.h, 16 columns): per 64 k of 32 weight rows,
//                  the even-k and odd-k activation tiles from a buffer of <b> bytes, four weight
//                  tiles from a 4 KB slot in L1 (rows 128 bytes apart), four products; <order> 0:
//                  into 2 accumulators, each pair chained back to back (as the driver), 1: the
//                  same with the chains interleaved, 2: into 4 accumulators, the weight tiles
//                  loaded two at a time; <stores> 1: the other slot written by 64 AVX-512 stores
//                  per step, as the decode writes it
//   bf16/step_order/<order>/<b>  BF16 2 x 2 steps, A tiles from a 16 KB buffer (L1) and B tiles
//                  from one of <b> bytes, in three orders of the same 4 products a step:
//                  0: the drivers' (the step's tiles loaded, then multiplied; kernels/
//                  w4a16_amx_driver.h MultiplyStep), 1: each tile reloaded for the next step
//                  right after its last product in this one (where tiles are not renamed, a
//                  load into a tile waits for the products that read it), 2: 1 x 2 blocks into two
//                  accumulators with the operands double-buffered (three tiles loaded per two
//                  products, each two products ahead of its use)
//   bf16/beside_vector/<work>/<tiles>  the drivers' BF16 2 x 2 steps with A tiles from a 64 KB
//                  buffer and B tiles from a 512 KB one (both in L2, as the W4A16 driver's at
//                  m = 128), beside AVX-512 work shaped like one part of its panel decode per
//                  step (8 B rows): <work> 0 none, 1 the decode's arithmetic on registers (per
//                  row two lookups, two multiplies, the BF16 pairing), 2 only its 8 stores into
//                  a 256 KB panel, 3 both, 4 integer work alone (per row a word lookup and a
//                  ternary logic), 5 float multiplies alone (two per row), 6 as 3 with the
//                  codes read in order from 1 GiB (beyond L3) as the decode streams them, 128
//                  bytes a step, 7 permutes alone and 8 shifts alone (per row three of them
//                  and a ternary logic: work that only port 5, or only port 0, of the two
//                  512-bit vector ports runs); <tiles> 0 the vector work alone.
//                  Which of the decode's parts keeps it from overlapping the tile products, and
//                  whether the tile instructions take one of the vector ports
#include <algorithm>
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

// The scaled-code-table driver's tile steps (see the header comment).
void RunWeightRows(benchmark::State& state) {
  if (!DetectedCpuFeatures().amx) {
    state.SkipWithError("this CPU has no AMX");
    return;
  }
  const int64_t b_bytes = state.range(0);
  const int order = static_cast<int>(state.range(1));
  const bool stores = state.range(2) != 0;
  constexpr int64_t kActivationStepBytes = 2 * 16 * 64;  // even-k and odd-k tiles
  constexpr int64_t kSlotBytes = 32 * 2 * 64;             // 32 rows x (even k, odd k) x 64 bytes
  AlignedBuffer b(b_bytes), slots(2 * kSlotBytes);
  std::memset(b.data(), 1, b_bytes);
  std::memset(slots.data(), 1, 2 * kSlotBytes);
  ConfigureTiles(64);
  auto* activations = static_cast<const uint8_t*>(b.data());
  auto* slot_base = static_cast<uint8_t*>(slots.data());
  const int64_t positions = b_bytes / kActivationStepBytes;
  int64_t position = 0;
  int slot = 0;
  const __m512i one = _mm512_set1_epi16(0x3F80);
  ZeroAccumulators();
  for (auto _ : state) {
    for (int s = 0; s < kStepsPerIteration; ++s) {
      const uint8_t* even_k = activations + position * kActivationStepBytes;
      const uint8_t* odd_k = even_k + 1024;
      position = position + 1 == positions ? 0 : position + 1;
      if (stores) {
        uint8_t* next = slot_base + (slot ^ 1) * kSlotBytes;
        for (int i = 0; i < 64; ++i) _mm512_store_si512(next + 64 * i, one);
      }
      const uint8_t* weights = slot_base + slot * kSlotBytes;
      slot ^= 1;
      if (order == 2) {
        _tile_loadd(4, even_k, 64);
        _tile_loadd(5, odd_k, 64);
        _tile_loadd(6, weights, 128);
        _tile_loadd(7, weights + 64, 128);
        _tile_dpbf16ps(0, 6, 4);
        _tile_dpbf16ps(1, 7, 5);
        _tile_loadd(6, weights + 2048, 128);
        _tile_loadd(7, weights + 2048 + 64, 128);
        _tile_dpbf16ps(2, 6, 4);
        _tile_dpbf16ps(3, 7, 5);
        continue;
      }
      _tile_loadd(2, even_k, 64);
      _tile_loadd(3, odd_k, 64);
      _tile_loadd(4, weights, 128);
      _tile_loadd(5, weights + 64, 128);
      _tile_loadd(6, weights + 2048, 128);
      _tile_loadd(7, weights + 2048 + 64, 128);
      if (order == 0) {
        _tile_dpbf16ps(0, 4, 2);
        _tile_dpbf16ps(0, 5, 3);
        _tile_dpbf16ps(1, 6, 2);
        _tile_dpbf16ps(1, 7, 3);
      } else {
        _tile_dpbf16ps(0, 4, 2);
        _tile_dpbf16ps(1, 6, 2);
        _tile_dpbf16ps(0, 5, 3);
        _tile_dpbf16ps(1, 7, 3);
      }
    }
  }
  alignas(64) float sums[16 * 16];
  _tile_stored(0, sums, 64);
  benchmark::DoNotOptimize(sums[0]);
  _tile_release();
  SetProductCounters(state, 2.0 * 16 * 16 * 32);
}

// Two tiles of one operand.
constexpr int64_t kPair = 2 * 16 * 64;

// A BF16 2 x 2 step in the drivers' order (kernels/w4a16_amx_driver.h MultiplyStep): the B pair
// and the first A tile loaded, then each A tile's two products.
[[gnu::always_inline]] inline void DriverOrderStep(const uint8_t* a_step, const uint8_t* b_step) {
  _tile_loadd(6, b_step, 64);
  _tile_loadd(7, b_step + kPair / 2, 64);
  _tile_loadd(4, a_step, 64);
  _tile_dpbf16ps(0, 4, 6);
  _tile_dpbf16ps(1, 4, 7);
  _tile_loadd(5, a_step + kPair / 2, 64);
  _tile_dpbf16ps(2, 5, 6);
  _tile_dpbf16ps(3, 5, 7);
}

// One B row of the decode's arithmetic (kernels/w4a16_amx_decode.h DecodeRowGroup): the even and
// odd codes of `codes` at byte kQ looked up as floats, times `scale`, paired as BF16.
template <int kQ>
[[gnu::always_inline]] inline __m512i DecodeLikeRow(__m512i codes, __m512 values, __m512 scale) {
  const __m512i even_codes = _mm512_srli_epi32(codes, 8 * kQ);
  const __m512i odd_codes = _mm512_srli_epi32(codes, 8 * kQ + 4);
  const __m512 even = _mm512_mul_ps(_mm512_permutexvar_ps(even_codes, values), scale);
  const __m512 odd = _mm512_mul_ps(_mm512_permutexvar_ps(odd_codes, values), scale);
  return _mm512_ternarylogic_epi32(_mm512_castps_si512(odd),
                                   _mm512_set1_epi32(static_cast<int>(0xFFFF0000u)),
                                   _mm512_srli_epi32(_mm512_castps_si512(even), 16), 0xEA);
}

// BF16 2 x 2 steps beside decode-shaped vector work (see the header comment).
void RunBesideVector(benchmark::State& state) {
  if (!DetectedCpuFeatures().amx) {
    state.SkipWithError("this CPU has no AMX");
    return;
  }
  const int work = static_cast<int>(state.range(0));
  const bool tiles = state.range(1) != 0;
  const bool streamed = work == 6;
  const bool arithmetic = work == 1 || work == 3 || streamed;
  const bool stores = work == 2 || work == 3 || streamed;
  // Work 6's codes: 1 GiB over all threads (at least 64 MB each), beyond L3.
  const int64_t stream_bytes =
      streamed ? std::max<int64_t>((int64_t{1} << 30) / state.threads(), int64_t{64} << 20) : 64;
  AlignedBuffer stream(stream_bytes);
  std::memset(stream.data(), 0x35, stream_bytes);
  const auto* stream_codes = static_cast<const uint8_t*>(stream.data());
  int64_t stream_at = 0;
  constexpr int64_t kABytes = 64 << 10, kBBytes = 512 << 10, kPanelBytes = 256 << 10;
  AlignedBuffer a(kABytes), b(kBBytes), panel(kPanelBytes);
  FillOperands(2, /*bf16=*/true, a);
  FillOperands(2, /*bf16=*/true, b);
  std::memset(panel.data(), 0, kPanelBytes);
  const auto* a_tiles = static_cast<const uint8_t*>(a.data());
  const auto* b_tiles = static_cast<const uint8_t*>(b.data());
  auto* panel_bytes = static_cast<uint8_t*>(panel.data());
  int64_t a_at = 0, b_at = 0, panel_at = 0;
  const __m512 values = _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f,
                                       -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f);
  const __m512 scale = _mm512_set1_ps(0.75f);
  __m512i codes = _mm512_set1_epi32(0x12345678), sink = _mm512_setzero_si512();
  const __m512i scale_bits = _mm512_castps_si512(scale);
  __m512 factor = _mm512_set1_ps(1.0f);
  const auto row = [&](__m512i decoded) {
    if (stores) {
      _mm512_store_si512(panel_bytes + panel_at, decoded);
      panel_at = panel_at + 64 == kPanelBytes ? 0 : panel_at + 64;
    } else {
      sink = _mm512_xor_si512(sink, decoded);
    }
  };
  ConfigureTiles(64);
  ZeroAccumulators();
  for (auto _ : state) {
    for (int s = 0; s < kStepsPerIteration; ++s) {
      if (tiles) {
        const uint8_t* a_step = a_tiles + a_at * kPair;
        const uint8_t* b_step = b_tiles + b_at * kPair;
        a_at = a_at + 1 == kABytes / kPair ? 0 : a_at + 1;
        b_at = b_at + 1 == kBBytes / kPair ? 0 : b_at + 1;
        DriverOrderStep(a_step, b_step);
      }
      if (work == 0) continue;
      for (int pair = 0; pair < 2; ++pair) {  // 8 rows: 4 byte positions, twice
        if (streamed) {
          // Half of this part's 128 code bytes, read in order as the decode reads its codes,
          // prefetched 16 lines ahead.
          codes = _mm512_load_si512(stream_codes + stream_at);
          __builtin_prefetch(stream_codes + (stream_at + 16 * 64) % stream_bytes, 0, 3);
          stream_at = stream_at + 64 == stream_bytes ? 0 : stream_at + 64;
        }
        if (arithmetic) {
          row(DecodeLikeRow<0>(codes, values, scale));
          row(DecodeLikeRow<1>(codes, values, scale));
          row(DecodeLikeRow<2>(codes, values, scale));
          row(DecodeLikeRow<3>(codes, values, scale));
        } else if (work == 4) {
          for (int r = 0; r < 4; ++r) {
            const __m512i words = _mm512_permutexvar_epi16(codes, _mm512_castps_si512(values));
            row(_mm512_ternarylogic_epi32(words, codes, scale_bits, 0xEA));
            codes = _mm512_ror_epi32(codes, 4);
          }
        } else if (work == 7) {
          for (int r = 0; r < 4; ++r) {
            const __m512i words = _mm512_permutexvar_epi16(codes, scale_bits);
            const __m512i bytes = _mm512_multishift_epi64_epi8(codes, scale_bits);
            const __m512i dwords = _mm512_permutexvar_epi32(codes, scale_bits);
            row(_mm512_ternarylogic_epi32(words, bytes, dwords, 0x96));
            codes = _mm512_alignr_epi8(codes, codes, 1);
          }
        } else if (work == 8) {
          for (int r = 0; r < 4; ++r) {
            const __m512i left = _mm512_slli_epi32(codes, 3);
            const __m512i right = _mm512_srli_epi32(codes, 5);
            const __m512i signs = _mm512_srai_epi16(codes, 2);
            row(_mm512_ternarylogic_epi32(left, right, signs, 0x96));
            codes = _mm512_rol_epi32(codes, 4);
          }
        } else if (work == 5) {
          for (int r = 0; r < 4; ++r) {
            const __m512 product = _mm512_mul_ps(_mm512_mul_ps(values, scale), factor);
            row(_mm512_castps_si512(product));
            factor = _mm512_add_ps(factor, scale);
          }
        } else {
          for (int r = 0; r < 4; ++r) row(codes);
        }
        codes = _mm512_add_epi32(codes, _mm512_set1_epi32(0x01010101));
      }
    }
  }
  alignas(64) float sums[16 * 16];
  _tile_stored(0, sums, 64);
  benchmark::DoNotOptimize(sums[0]);
  benchmark::DoNotOptimize(sink);
  benchmark::DoNotOptimize(factor);
  _tile_release();
  SetProductCounters(state, 2.0 * 16 * 16 * 32);
}

// BF16 2 x 2 steps in the order <order> (see the header comment).
void RunStepOrder(benchmark::State& state) {
  if (!DetectedCpuFeatures().amx) {
    state.SkipWithError("this CPU has no AMX");
    return;
  }
  const int order = static_cast<int>(state.range(0));
  const int64_t b_bytes = state.range(1);
  constexpr int64_t kABytes = 16 << 10;
  AlignedBuffer a(kABytes), b(b_bytes);
  FillOperands(2, /*bf16=*/true, a);
  FillOperands(2, /*bf16=*/true, b);
  const auto* a_tiles = static_cast<const uint8_t*>(a.data());
  const auto* b_tiles = static_cast<const uint8_t*>(b.data());
  const int64_t a_pairs = kABytes / kPair, b_pairs = b_bytes / kPair;
  int64_t a_at = 0, b_at = 0;
  const auto next = [&] {
    a_at = a_at + 1 == a_pairs ? 0 : a_at + 1;
    b_at = b_at + 1 == b_pairs ? 0 : b_at + 1;
  };
  ConfigureTiles(64);
  ZeroAccumulators();
  if (order != 0) {
    // Order 1: tiles 4, 5 (A) and 6, 7 (B) hold the first step's operands; order 2: tiles 2
    // (A) and 4, 5 (B) the first half step's, 3 and 6, 7 the second's.
    if (order == 1) {
      _tile_loadd(4, a_tiles, 64);
      _tile_loadd(5, a_tiles + kPair / 2, 64);
      _tile_loadd(6, b_tiles, 64);
      _tile_loadd(7, b_tiles + kPair / 2, 64);
    } else {
      _tile_loadd(2, a_tiles, 64);
      _tile_loadd(3, a_tiles + kPair / 2, 64);
      _tile_loadd(4, b_tiles, 64);
      _tile_loadd(5, b_tiles + kPair / 2, 64);
      _tile_loadd(6, b_tiles + kPair, 64);
      _tile_loadd(7, b_tiles + kPair + kPair / 2, 64);
    }
    next();
  }
  for (auto _ : state) {
    for (int s = 0; s < kStepsPerIteration; ++s) {
      const uint8_t* a_step = a_tiles + a_at * kPair;
      const uint8_t* b_step = b_tiles + b_at * kPair;
      next();
      if (order == 0) {
        DriverOrderStep(a_step, b_step);
      } else if (order == 1) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_loadd(4, a_step, 64);
        _tile_dpbf16ps(2, 5, 6);
        _tile_loadd(6, b_step, 64);
        _tile_dpbf16ps(3, 5, 7);
        _tile_loadd(5, a_step + kPair / 2, 64);
        _tile_loadd(7, b_step + kPair / 2, 64);
      } else {
        // The B pair of a half step is 2 KB; a step reads two of them.
        _tile_dpbf16ps(0, 2, 4);
        _tile_dpbf16ps(1, 2, 5);
        _tile_loadd(2, a_step, 64);
        _tile_loadd(4, b_step, 64);
        _tile_loadd(5, b_step + kPair / 2, 64);
        _tile_dpbf16ps(0, 3, 6);
        _tile_dpbf16ps(1, 3, 7);
        _tile_loadd(3, a_step + kPair / 2, 64);
        next();
        const uint8_t* b_half = b_tiles + b_at * kPair;
        _tile_loadd(6, b_half, 64);
        _tile_loadd(7, b_half + kPair / 2, 64);
      }
    }
  }
  alignas(64) float sums[16 * 16];
  _tile_stored(0, sums, 64);
  benchmark::DoNotOptimize(sums[0]);
  _tile_release();
  SetProductCounters(state, 2.0 * 16 * 16 * 32);
}

BENCHMARK(RunStepOrder)
    ->Name("bf16/step_order")->ArgNames({"order", "b"})
    ->ArgsProduct({{0, 1, 2}, {16 << 10, 512 << 10}})->Apply(Threads);
BENCHMARK(RunBesideVector)
    ->Name("bf16/beside_vector")->ArgNames({"work", "tiles"})
    ->ArgsProduct({{0, 1, 2, 3, 4, 5, 6, 7, 8}, {1, 0}})
    ->UseRealTime()
    ->Threads(1)
    ->Threads(16);
BENCHMARK(RunWeightRows)
    ->Name("bf16/weight_rows")->ArgNames({"b", "order", "stores"})
    ->ArgsProduct({{16 << 10, 256 << 10}, {0, 1, 2}, {0, 1}})->Apply(Threads);

}  // namespace
}  // namespace fp4moe::kernels
