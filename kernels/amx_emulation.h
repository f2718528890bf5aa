#ifndef FP4MOE_KERNELS_AMX_EMULATION_H_
#define FP4MOE_KERNELS_AMX_EMULATION_H_

// AMX tiles emulated in plain C++, so that AMX kernels (their `_emulated` copy, built with
// FP4MOE_AMX_EMULATION) run and are tested on machines without AMX. Replaces the intrinsics
// of <immintrin.h> with macros of the same names and arguments (tile numbers are constants)
// following Intel's pseudo-code: 8 tiles of up to 16 rows x 64 bytes, palette 1 only.
// Unlike hardware, bf16 inputs are not flushed to zero when denormal (DAZ).
//
// Everything has internal linkage: each file that includes this has its own copy and its own
// thread_local tile state, so no inline function is shared between files of different ISA
// flags (the ODR trap of kernels/BUILD).

#include <immintrin.h>  // first, so that the #undefs below replace gcc's AMX macros

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace fp4moe::amx_emulation {
namespace {

constexpr int kTiles = 8;
constexpr int kMaxRows = 16;
constexpr int kMaxColumnBytes = 64;

struct Tile {
  int rows = 0;
  int column_bytes = 0;
  alignas(64) uint8_t data[kMaxRows][kMaxColumnBytes] = {};
};

struct TileState {
  bool configured = false;
  Tile tiles[kTiles];
};

thread_local TileState tile_state;

[[noreturn]] void Fail(const char* what, int tile) {
  std::fprintf(stderr, "AMX emulation: %s (tile %d)\n", what, tile);
  std::abort();
}

// Hardware raises #UD for these; a kernel bug shows up as an abort here instead.
Tile& ConfiguredTile(int t) {
  if (!tile_state.configured) Fail("tile used without _tile_loadconfig", t);
  if (t < 0 || t >= kTiles) Fail("no such tile", t);
  Tile& tile = tile_state.tiles[t];
  if (tile.rows == 0 || tile.column_bytes == 0) Fail("tile not configured", t);
  return tile;
}

void ZeroTile(Tile& tile) { std::memset(tile.data, 0, sizeof tile.data); }

// The 64-byte palette-1 configuration: palette_id, start_row, 14 reserved bytes,
// colsb[16] as uint16 at offset 16, rows[16] as uint8 at offset 48.
[[maybe_unused]] void LoadConfig(const void* config) {
  const uint8_t* bytes = static_cast<const uint8_t*>(config);
  const uint8_t palette = bytes[0];
  if (palette == 0) {  // palette 0 returns tiles to their initial, unconfigured state
    tile_state = TileState();
    return;
  }
  if (palette != 1) Fail("only palette 1 is emulated", -1);
  for (int t = 0; t < kTiles; ++t) {
    uint16_t column_bytes;
    std::memcpy(&column_bytes, bytes + 16 + 2 * t, sizeof column_bytes);
    const int rows = bytes[48 + t];
    if (column_bytes > kMaxColumnBytes || rows > kMaxRows) Fail("tile shape too large", t);
    if ((column_bytes == 0) != (rows == 0)) Fail("tile with rows but no columns", t);
    Tile& tile = tile_state.tiles[t];
    tile.rows = rows;
    tile.column_bytes = column_bytes;
    ZeroTile(tile);  // ldtilecfg zeroes all tile data
  }
  tile_state.configured = true;
}

[[maybe_unused]] void Release() { tile_state = TileState(); }

[[maybe_unused]] void Zero(int t) { ZeroTile(ConfiguredTile(t)); }

// Rows beyond `rows` and bytes beyond `column_bytes` read as zero, as tileloadd leaves them.
[[maybe_unused]] void Load(int t, const void* base, int64_t stride) {
  Tile& tile = ConfiguredTile(t);
  ZeroTile(tile);
  const uint8_t* source = static_cast<const uint8_t*>(base);
  for (int r = 0; r < tile.rows; ++r) {
    std::memcpy(tile.data[r], source + r * stride, tile.column_bytes);
  }
}

[[maybe_unused]] void Store(int t, void* base, int64_t stride) {
  const Tile& tile = ConfiguredTile(t);
  uint8_t* target = static_cast<uint8_t*>(base);
  for (int r = 0; r < tile.rows; ++r) {
    std::memcpy(target + r * stride, tile.data[r], tile.column_bytes);
  }
}

// The shape checks of Intel's pseudo-code for the dot-product instructions.
void CheckDotShapes(const Tile& dst, const Tile& a, const Tile& b, int t) {
  if (a.rows != dst.rows) Fail("a.rows != dst.rows", t);
  if (b.column_bytes != dst.column_bytes) Fail("b.colsb != dst.colsb", t);
  if (a.column_bytes / 4 != b.rows) Fail("a.colsb / 4 != b.rows", t);
  if (dst.column_bytes % 4 != 0 || a.column_bytes % 4 != 0) Fail("colsb not of dwords", t);
}

int32_t Dword(const Tile& tile, int row, int index) {
  int32_t value;
  std::memcpy(&value, tile.data[row] + 4 * index, sizeof value);
  return value;
}

// dst[m][n] += sum_i a[m][4k+i] * b[k][4n+i] over k < a.colsb / 4, in wrapping int32.
template <typename AByte, typename BByte>
[[maybe_unused]] void DotProductBytes(int dst_tile, int a_tile, int b_tile) {
  Tile& dst = ConfiguredTile(dst_tile);
  const Tile& a = ConfiguredTile(a_tile);
  const Tile& b = ConfiguredTile(b_tile);
  CheckDotShapes(dst, a, b, dst_tile);
  for (int m = 0; m < dst.rows; ++m) {
    for (int n = 0; n < dst.column_bytes / 4; ++n) {
      uint32_t acc = static_cast<uint32_t>(Dword(dst, m, n));
      for (int k = 0; k < a.column_bytes / 4; ++k) {
        for (int i = 0; i < 4; ++i) {
          const int32_t product = static_cast<AByte>(a.data[m][4 * k + i]) *
                                  static_cast<BByte>(b.data[k][4 * n + i]);
          acc += static_cast<uint32_t>(product);
        }
      }
      const int32_t result = static_cast<int32_t>(acc);
      std::memcpy(dst.data[m] + 4 * n, &result, sizeof result);
    }
  }
}

float Bf16ToFloat(const uint8_t* bytes) {
  uint16_t bits;
  std::memcpy(&bits, bytes, sizeof bits);
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof value);
  return value;
}

// dst[m][n] += a[m][2k] * b[k][2n] then += a[m][2k+1] * b[k][2n+1], float, k ascending.
[[maybe_unused]] void DotProductBf16(int dst_tile, int a_tile, int b_tile) {
  Tile& dst = ConfiguredTile(dst_tile);
  const Tile& a = ConfiguredTile(a_tile);
  const Tile& b = ConfiguredTile(b_tile);
  CheckDotShapes(dst, a, b, dst_tile);
  for (int m = 0; m < dst.rows; ++m) {
    for (int n = 0; n < dst.column_bytes / 4; ++n) {
      float acc;
      std::memcpy(&acc, dst.data[m] + 4 * n, sizeof acc);
      for (int k = 0; k < a.column_bytes / 4; ++k) {
        for (int i = 0; i < 2; ++i) {
          acc += Bf16ToFloat(a.data[m] + 4 * k + 2 * i) * Bf16ToFloat(b.data[k] + 4 * n + 2 * i);
        }
      }
      std::memcpy(dst.data[m] + 4 * n, &acc, sizeof acc);
    }
  }
}

}  // namespace
}  // namespace fp4moe::amx_emulation

#undef _tile_loadconfig
#undef _tile_storeconfig
#undef _tile_release
#undef _tile_zero
#undef _tile_loadd
#undef _tile_stream_loadd
#undef _tile_stored
#undef _tile_dpbssd
#undef _tile_dpbusd
#undef _tile_dpbf16ps

#define _tile_loadconfig(config) ::fp4moe::amx_emulation::LoadConfig(config)
#define _tile_release() ::fp4moe::amx_emulation::Release()
#define _tile_zero(t) ::fp4moe::amx_emulation::Zero(t)
#define _tile_loadd(t, base, stride) ::fp4moe::amx_emulation::Load(t, base, stride)
// The streaming hint (tileloaddt1) only changes caching.
#define _tile_stream_loadd(t, base, stride) ::fp4moe::amx_emulation::Load(t, base, stride)
#define _tile_stored(t, base, stride) ::fp4moe::amx_emulation::Store(t, base, stride)
#define _tile_dpbssd(dst, a, b) \
  ::fp4moe::amx_emulation::DotProductBytes<int8_t, int8_t>(dst, a, b)
#define _tile_dpbusd(dst, a, b) \
  ::fp4moe::amx_emulation::DotProductBytes<uint8_t, int8_t>(dst, a, b)
#define _tile_dpbf16ps(dst, a, b) ::fp4moe::amx_emulation::DotProductBf16(dst, a, b)

#endif  // FP4MOE_KERNELS_AMX_EMULATION_H_
