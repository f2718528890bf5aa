#ifndef FP4MOE_KERNELS_AMX_TILE_CONFIG_H_
#define FP4MOE_KERNELS_AMX_TILE_CONFIG_H_

#include <cstdint>

namespace fp4moe::kernels {

// The 64-byte palette-1 tile configuration that _tile_loadconfig reads (Intel SDM): a plain
// struct, so one definition serves the kernels (native and emulated) and the tests.
struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t column_bytes[16] = {};
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_AMX_TILE_CONFIG_H_
