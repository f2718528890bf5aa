// The AMX part of kernels/peak_probe.cc, alone in a file built with AMX flags: no inline code
// shared with other files (see kernels/microkernel.bzl on the ODR trap).
#include <omp.h>

#include <cstdint>

#include "kernels/amx_helpers.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {
namespace {

// `blocks` 2 x 2 blocks of tile products on operand tiles loaded once.
template <bool kBf16>
void TileBlocks(int blocks) {
  alignas(64) static thread_local uint8_t operands[4096] = {};
  ConfigureTiles(64);
  _tile_loadd(4, operands, 64);
  _tile_loadd(5, operands + 1024, 64);
  _tile_loadd(6, operands + 2048, 64);
  _tile_loadd(7, operands + 3072, 64);
  ZeroAccumulators();
  for (int i = 0; i < blocks; ++i) TileProducts<kBf16>();
  // The sums are kept, so that the products are not dropped.
  _tile_stored(0, operands, 64);
  _tile_release();
}

}  // namespace

int RunAmxTileBlocks(bool bf16, int blocks) {
  int threads = 1;
#pragma omp parallel
  {
#pragma omp single
    threads = omp_get_num_threads();
    if (bf16) {
      TileBlocks<true>(blocks);
    } else {
      TileBlocks<false>(blocks);
    }
  }
  return threads;
}

}  // namespace fp4moe::kernels
