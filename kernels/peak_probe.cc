#include "kernels/peak_probe.h"

#include <algorithm>
#include <chrono>

#include "kernels/cpu_features.h"

namespace fp4moe::kernels {

// kernels/amx_tile_blocks.cc: `blocks` 2 x 2 blocks of tile products (BF16 or INT8) on every
// OpenMP thread; returns the number of threads.
int RunAmxTileBlocks(bool bf16, int blocks);

namespace {

// Tile products per second over all threads, best of several passes after a warm-up: on the
// Xeon, passes right after the tile units were idle ran at a third of the rate (a probe of five
// 4 ms passes once gave 5.5 TFLOPS BF16 where the sequence benchmark gives 16).
double TileProductsPerSecond(bool bf16) {
  constexpr int kBlocks = 65536;  // about 4 ms a pass on the Xeon
  RunAmxTileBlocks(bf16, 25 * kBlocks);
  double best = 0;
  for (int pass = 0; pass < 10; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    const int threads = RunAmxTileBlocks(bf16, kBlocks);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 4.0 * kBlocks * threads / seconds);
  }
  return best;
}

}  // namespace

PeakRates MeasurePeakRates() {
  PeakRates peaks;
  if (!DetectedCpuFeatures().amx) return peaks;
  // One product: 16 x 16 outputs over 64 bytes of k (32 BF16 or 64 int8 pairs), 2 ops each.
  peaks.amx_bf16 = TileProductsPerSecond(true) * 2 * 16 * 16 * 32;
  peaks.amx_int8 = TileProductsPerSecond(false) * 2 * 16 * 16 * 64;
  return peaks;
}

}  // namespace fp4moe::kernels
