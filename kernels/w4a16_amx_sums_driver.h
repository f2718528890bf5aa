#ifndef FP4MOE_KERNELS_W4A16_AMX_SUMS_DRIVER_H_
#define FP4MOE_KERNELS_W4A16_AMX_SUMS_DRIVER_H_

// A second W4A16 AMX-BF16 driver, for products of at most 16 rows, where decoding every weight
// with its scale into BF16 (kernels/w4a16_amx_driver.h: 7 to 8 vector instructions per 32
// weights) bounds the kernel. Here the B tiles hold each code's own value (one word lookup per
// 32 weights, exact in BF16), each tile product covers one scale block (16 k for the E2M1
// formats, whose weights carry a scale per 16 k, MXFP4's 32 stored twice; 32 k for INT4 K2's
// groups of a multiple of 32), and the block's 16 x 16 sums, stored from the tile, are scaled
// in float into accumulators that stay in registers over the whole K: one FMA per row of
// activations per 16 columns per block, 1 to 2 per 32 weights at 8 to 16 rows with 16-k
// blocks. That is the int8 tile design of llama.cpp's and BesTLA's AMX kernels, on BF16 tiles,
// where the sums need no int-to-float conversion and the activations no scale. The weights are
// then code x scale exactly: the path's own where that product is exact in BF16 (E2M1 with
// E4M3 or E8M0 scales); INT4 K2's q x s has up to 11 significant bits, which its path rounds
// to BF16 and this driver keeps. Products of more rows run the panel driver. In an anonymous
// namespace, as the other drivers.

#include <cstdint>

#include "kernels/amx_helpers.h"
#include "kernels/amx_tile_config.h"
#include "kernels/microkernel.h"
#include "kernels/simd.h"
#include "kernels/w4a16_amx_decode.h"
#include "kernels/w4a16_amx_driver.h"

namespace fp4moe::kernels {
namespace {

// Decode steps ahead whose codes are prefetched (about 100 ns of decode each on the Xeon; 16
// measured no different).
constexpr int kSumsPrefetchSteps = 4;
// k of one tile product (one scale block): 16 or 32.
constexpr int kMaxProductK = 32;

struct SumsScratch {
  // A 16-column tile's code values over one decode step, in two slots.
  alignas(64) uint16_t ring[2][kDecodeStep / 2][32];
  // The tile products of two blocks, [row][column]; rows past m stay zero.
  alignas(64) float sums[2][kTileRows][16];
};
thread_local SumsScratch sums_scratch;

// Tiles: block sums 0 and 1 (`rows` x 16 floats), activations 4 and 5 (`rows` x product_k
// BF16), code values 6 and 7 (product_k / 2 VNNI rows of 16 columns).
void ConfigureSumTiles(int rows, int product_k) {
  TileConfig config;
  for (int t : {0, 1}) {
    config.rows[t] = static_cast<uint8_t>(rows);
    config.column_bytes[t] = 64;
  }
  for (int t : {4, 5}) {
    config.rows[t] = static_cast<uint8_t>(rows);
    config.column_bytes[t] = static_cast<uint16_t>(2 * product_k);
  }
  for (int t : {6, 7}) {
    config.rows[t] = static_cast<uint8_t>(product_k / 2);
    config.column_bytes[t] = 64;
  }
  LoadTileConfig(config);
}

// One block's sums: activations at `a` (rows `a_stride` bytes apart) times the code values at
// `values`, stored to `sums`; on tiles 0, 4, 6, or 1, 5, 7 for the second of a pair (literal
// tile numbers: the native intrinsics paste them into the assembly).
template <bool kSecond>
[[gnu::always_inline]] inline void BlockSums(const uint16_t* a, int64_t a_stride,
                                             const uint16_t (*values)[32], float (*sums)[16]) {
  if constexpr (kSecond) {
    _tile_zero(1);
    _tile_loadd(5, a, a_stride);
    _tile_loadd(7, values, 64);
    _tile_dpbf16ps(1, 5, 7);
    _tile_stored(1, sums, 64);
  } else {
    _tile_zero(0);
    _tile_loadd(4, a, a_stride);
    _tile_loadd(6, values, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_stored(0, sums, 64);
  }
}

// DecodeCodeValuesStep out of line: inlined, its 32 vectors of codes and the accumulators did
// not fit the 32 registers, and gcc kept the accumulators in memory, a load and a store per
// FMA; now they live in registers over each step's products (AddStepSums) and in memory only
// across this call. (A call within this file leaves the tile configuration as it is: see
// kernels/w4a16_amx_driver.h.)
template <typename F>
[[gnu::noinline]] void DecodeCodeValues(const WeightsView& b, int64_t n0, int columns, int64_t k0,
                                        int64_t kk, int64_t length, uint16_t (*rows)[32]) {
  DecodeCodeValuesStep<F>(b, n0, columns, k0, kk, length, rows);
}

// accumulators[r] += sums[r] x the block's 16 column scales.
template <int kRows>
[[gnu::always_inline]] inline void AddScaledSums(__m512 (&accumulators)[kRows],
                                                 const float (*sums)[16], __m512 scales) {
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) {
    accumulators[r] = _mm512_fmadd_ps(_mm512_load_ps(sums[r]), scales, accumulators[r]);
  }
}

// Where the activations of k [k, k + product k) start, and the bytes between their rows: the
// buffer's tile order where it has one (one block of m rows), else the rows themselves.
struct ActivationTiles {
  const uint16_t* tiles;
  const uint16_t* values;
  int64_t rows, k, step;
  const uint16_t* At(int64_t at) const {
    return tiles != nullptr ? tiles + at / step * rows * step + at % step : values + at;
  }
  int64_t Stride() const { return 2 * (tiles != nullptr ? step : k); }
};

// One decode step's tile products (`products` blocks of kProductK k from k `at`, the code
// values at `values`), each block's sums scaled by its column scales into totals[0, kRows),
// which stay in registers over the step.
template <typename F, int kRows, int kProductK, typename Scales>
[[gnu::always_inline]] inline void AddStepSums(const ActivationTiles& a, int64_t at,
                                               const uint16_t (*values)[32], int products,
                                               const Scales& scales, float (*totals)[16]) {
  const int64_t a_stride = a.Stride();
  __m512 accumulators[kRows];
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) accumulators[r] = _mm512_load_ps(totals[r]);
  for (int p = 0; p < products; p += 2) {
    const bool pair = p + 1 < products;
    if constexpr (!DriverOmits<F>::kBlockSums) {
      BlockSums<false>(a.At(at + p * kProductK), a_stride, values + p * kProductK / 2,
                       sums_scratch.sums[0]);
      if (pair) {
        BlockSums<true>(a.At(at + (p + 1) * kProductK), a_stride,
                        values + (p + 1) * kProductK / 2, sums_scratch.sums[1]);
      }
    }
    if constexpr (!DriverOmits<F>::kScaling) {
      AddScaledSums<kRows>(accumulators, sums_scratch.sums[0], scales.Run(p * kProductK / 8));
      if (pair) {
        AddScaledSums<kRows>(accumulators, sums_scratch.sums[1],
                             scales.Run((p + 1) * kProductK / 8));
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) _mm512_store_ps(totals[r], accumulators[r]);
}

// C[0:m, n_begin:n_end] for m <= kRows <= 16, one 16-column tile at a time over the whole K.
template <typename F, int kRows, int kProductK>
void MultiplyScaledSums(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  const WeightsView& b = args.b;
  const int rows = static_cast<int>(args.m);
  const ActivationTiles a{args.a_bf16.tiles, args.a_bf16.values, args.m, b.k,
                          b.k % 32 == 0 ? 32 : 16};
  for (auto& slot : sums_scratch.sums) {
    for (int r = rows; r < kTileRows; ++r) _mm512_store_ps(slot[r], _mm512_setzero_ps());
  }
  ConfigureSumTiles(rows, kProductK);
  const int64_t code_row = b.k / 2;
  for (int64_t n0 = n_begin; n0 < n_end; n0 += 16) {
    const int columns = n_end - n0 < 16 ? static_cast<int>(n_end - n0) : 16;
    // The 16 columns' sums of each row over the k done so far.
    alignas(64) float totals[kRows][16];
    for (auto& row : totals) _mm512_store_ps(row, _mm512_setzero_ps());
    for (int64_t k0 = 0; k0 < b.k; k0 += kKBlock) {
      const int64_t kc = b.k - k0 < kKBlock ? b.k - k0 : kKBlock;
      typename F::Scales scales(b, n0, columns, k0, kc);
      for (int64_t kk = 0, slot = 0; kk < kc; kk += kDecodeStep, slot ^= 1) {
        const int64_t length = kc - kk < kDecodeStep ? kc - kk : kDecodeStep;
        // The codes and block scales kSumsPrefetchSteps steps on: this tile's, else a next
        // tile's first (32 streams, more than the hardware prefetchers follow).
        int64_t ahead = k0 + kk + kSumsPrefetchSteps * kDecodeStep, tile = n0;
        while (ahead >= b.k) {
          ahead -= b.k;
          tile += 16;
        }
        for (int64_t c = tile; c < tile + 16 && c < n_end; ++c) {
          __builtin_prefetch(b.codes + c * code_row + ahead / 2, 0, 1);
          const int64_t scale = c * (b.k / b.block) + ahead / b.block;
          __builtin_prefetch(b.scales + scale * F::Scales::kScaleBytes, 0, 1);
        }
        if constexpr (!DriverOmits<F>::kDecode) {
          DecodeCodeValues<F>(b, n0, columns, k0, kk, length, sums_scratch.ring[slot]);
        }
        scales.Step(kk, length);
        AddStepSums<F, kRows, kProductK>(a, k0 + kk, sums_scratch.ring[slot],
                                         static_cast<int>(length / kProductK), scales, totals);
      }
    }
    // x tensor_scale into C; partial tiles element by element (a loop that is no memcpy call:
    // no call may leave this file while the tiles are configured).
    for (int r = 0; r < rows; ++r) {
      float* c = args.c + r * args.ldc + n0;
      if (columns == 16) {
        _mm512_storeu_ps(c, _mm512_mul_ps(_mm512_load_ps(totals[r]),
                                          _mm512_set1_ps(b.tensor_scale)));
        continue;
      }
      for (int j = 0; j < columns; ++j) c[j] = totals[r][j] * b.tensor_scale;
    }
  }
  _tile_release();
}

// C[0:m, n_begin:n_end] for m <= kRows, one tile product per block of the format's scales.
template <typename F, int kRows>
void MultiplyScaledSumsByBlock(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  if (args.b.block % kMaxProductK == 0) {
    MultiplyScaledSums<F, kRows, kMaxProductK>(args, n_begin, n_end);
  } else {
    MultiplyScaledSums<F, kRows, 16>(args, n_begin, n_end);
  }
}

// C[0:m, n_begin:n_end] for weights of the format F with scale blocks of a multiple of 16 k:
// products of at most 16 rows by scaled block sums; others by the panel driver.
template <typename F>
void MultiplyW4a16AmxScaledSums(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  if (args.m <= 4) {
    MultiplyScaledSumsByBlock<F, 4>(args, n_begin, n_end);
  } else if (args.m <= 8) {
    MultiplyScaledSumsByBlock<F, 8>(args, n_begin, n_end);
  } else if (args.m <= 12) {
    MultiplyScaledSumsByBlock<F, 12>(args, n_begin, n_end);
  } else if (args.m <= kScaledSumsMaxRows) {
    static_assert(kScaledSumsMaxRows == kTileRows);
    MultiplyScaledSumsByBlock<F, kTileRows>(args, n_begin, n_end);
  } else {
    MultiplyW4a16Amx<F>(args, n_begin, n_end);
  }
}

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_W4A16_AMX_SUMS_DRIVER_H_
