// The AMX part of kernels/peak_probe.cc, alone in a file built with AMX flags: no inline code
// shared with other files (see kernels/microkernel.bzl on the ODR trap).
#include <omp.h>

#include <cstdint>

#include "kernels/amx_helpers.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {
namespace {

// `blocks` 2 x 2 blocks of tile products on operand tiles loaded once (tile numbers are
// literals: the intrinsics paste them).
template <bool kBf16>
void TileBlocks(int blocks) {
  alignas(64) static thread_local uint8_t operands[4096] = {};
  ConfigureTiles(64);
  _tile_loadd(4, operands, 64);
  _tile_loadd(5, operands + 1024, 64);
  _tile_loadd(6, operands + 2048, 64);
  _tile_loadd(7, operands + 3072, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int i = 0; i < blocks; ++i) {
    if constexpr (kBf16) {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    } else {
      _tile_dpbssd(0, 4, 6);
      _tile_dpbssd(1, 4, 7);
      _tile_dpbssd(2, 5, 6);
      _tile_dpbssd(3, 5, 7);
    }
  }
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
