// The AMX loops of the machine probes (see kernels/probe_chains.h), alone in a file built with
// AMX flags: no inline code shared with other files (see kernels/microkernel.bzl).
#include <cstdint>

#include "kernels/amx_helpers.h"
#include "kernels/probe_chains.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {
namespace {

template <bool kBf16>
double TileBlocks(int64_t blocks) {
  alignas(64) static thread_local uint8_t operands[4096] = {};
  ConfigureTiles(64);
  _tile_loadd(4, operands, 64);
  _tile_loadd(5, operands + 1024, 64);
  _tile_loadd(6, operands + 2048, 64);
  _tile_loadd(7, operands + 3072, 64);
  ZeroAccumulators();
  for (int64_t i = 0; i < blocks; ++i) TileProducts<kBf16>();
  // The sums are kept, so that the products are not dropped.
  alignas(64) int32_t sums[16][16];
  _tile_stored(0, sums, 64);
  _tile_release();
  return sums[0][0];
}

}  // namespace

double Bf16TileBlocksAmx(int64_t blocks) { return TileBlocks<true>(blocks); }
double Int8TileBlocksAmx(int64_t blocks) { return TileBlocks<false>(blocks); }

}  // namespace fp4moe::kernels
