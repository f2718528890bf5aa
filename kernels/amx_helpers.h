#ifndef FP4MOE_KERNELS_AMX_HELPERS_H_
#define FP4MOE_KERNELS_AMX_HELPERS_H_

// Tile setup shared by the AMX microkernels, natively and through the tile emulation
// (FP4MOE_AMX_EMULATION). In an anonymous namespace for the same reason as
// kernels/avx512_helpers.h.

#include <cstdint>

#include "kernels/amx_tile_config.h"
#include "kernels/microkernel.h"
#include "kernels/simd.h"
#if defined(FP4MOE_AMX_EMULATION)
#include "kernels/amx_emulation.h"
#endif

namespace fp4moe::kernels {
namespace {

// Loads `config` as the tile configuration. GCC (12) does not see that ldtilecfg reads the whole
// 64 bytes: it dropped the rows and column stores as dead once the stack slot was reused (the
// next tile instruction then faulted as undefined on the Xeon). An asm that reads the object
// keeps them.
[[maybe_unused]] [[gnu::always_inline]] inline void LoadTileConfig(const TileConfig& config) {
  asm volatile("" : : "m"(config));
  _tile_loadconfig(&config);
}

// The tiles of every AMX kernel (literal numbers: the native intrinsics paste them into the
// assembly): accumulators 0..3, activations 4 and 5, weights 6 and 7.
// Configures 16 x 64-byte accumulators, 16-row activation tiles of `a_row_bytes` (the k step
// in bytes) and weight tiles of 64-byte VNNI rows covering that k step (4 bytes of k per row).
[[maybe_unused]] void ConfigureTiles(int a_row_bytes) {
  TileConfig config;
  for (int t = 0; t < 4; ++t) {
    config.rows[t] = 16;
    config.column_bytes[t] = 64;
  }
  for (int t = 4; t < 6; ++t) {
    config.rows[t] = 16;
    config.column_bytes[t] = static_cast<uint16_t>(a_row_bytes);
  }
  for (int t = 6; t < 8; ++t) {
    config.rows[t] = static_cast<uint8_t>(a_row_bytes / 4);
    config.column_bytes[t] = 64;
  }
  LoadTileConfig(config);
}

// The accumulators zeroed, and one 2 x 2 block of tile products into them (accumulators 0..3
// += activations 4, 5 x weights 6, 7; BF16 or signed INT8 pairs).
[[maybe_unused]] [[gnu::always_inline]] inline void ZeroAccumulators() {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
}

template <bool kBf16>
[[gnu::always_inline]] inline void TileProducts() {
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

// The cache lines of a block of rows (`rows` rows of `bytes` bytes, `stride` apart), prefetched
// into L2 a few at a time over the tile products that run before the block is used: a burst
// of hundreds of prefetches waits for fill buffers and stalls the tile loads behind it.
class RowPrefetcher {
 public:
  RowPrefetcher() = default;
  // Spread over `calls` calls of Next.
  RowPrefetcher(const void* first_row, int64_t stride, int64_t rows, int64_t bytes, int64_t calls)
      : row_(static_cast<const char*>(first_row)),
        stride_(stride),
        rows_left_(rows),
        lines_per_row_((bytes + 63) / 64),
        lines_per_call_((rows * lines_per_row_ + calls - 1) / (calls > 0 ? calls : 1)) {}

  void Next() {
    for (int64_t i = 0; i < lines_per_call_ && rows_left_ > 0; ++i) {
      __builtin_prefetch(row_ + 64 * line_, 0, 2);
      if (++line_ == lines_per_row_) {
        line_ = 0;
        row_ += stride_;
        --rows_left_;
      }
    }
  }

 private:
  const char* row_ = nullptr;
  int64_t stride_ = 0;
  int64_t rows_left_ = 0;
  int64_t lines_per_row_ = 1;
  int64_t lines_per_call_ = 0;
  int64_t line_ = 0;
};

// The codes of the weight panel an AMX kernel decodes after the current one (chunk
// [n0, chunk_end) of a slice ending at n_end, k block [k0, k0 + block_k)): the same chunk's next
// k block, else the next chunk's first; up to `chunk_columns` rows of block_k / 2 bytes,
// spread over `calls` calls of Next. The hardware prefetchers follow too few of a panel's row
// streams, and a burst of prefetches stalls the tile loads.
[[maybe_unused]] RowPrefetcher NextPanelPrefetcher(const WeightsView& b, int64_t n0,
                                                   int64_t chunk_end, int64_t n_end,
                                                   int64_t chunk_columns, int64_t k0,
                                                   int64_t block_k, int64_t calls) {
  const bool next_block = k0 + block_k < b.k;
  const int64_t panel_n0 = next_block ? n0 : chunk_end;
  const int64_t panel_k0 = next_block ? k0 + block_k : 0;
  const int64_t panel_kc = b.k - panel_k0 < block_k ? b.k - panel_k0 : block_k;
  const int64_t columns = n_end - panel_n0 < chunk_columns ? n_end - panel_n0 : chunk_columns;
  if (columns <= 0) return RowPrefetcher();
  return RowPrefetcher(b.codes + panel_n0 * (b.k / 2) + panel_k0 / 2, b.k / 2, columns,
                       panel_kc / 2, calls);
}

// The activations an AMX kernel reads after row block [m0, m0 + block_rows) of k block
// [k0, k0 + block_k): the next row block of the same k block, else the first of the next k
// block; of `a` (m x k elements of `element_bytes`: rows, or in tile order, where a block's
// k block is one run of bytes; see Bf16ActivationsView), spread over `calls` calls of Next.
[[maybe_unused]] RowPrefetcher NextRowBlockPrefetcher(const void* a, bool tile_order,
                                                      int64_t element_bytes, int64_t m,
                                                      int64_t k, int64_t m0, int64_t block_rows,
                                                      int64_t k0, int64_t block_k,
                                                      int64_t calls) {
  const bool next_row_block = m0 + block_rows < m;
  const int64_t next_m0 = next_row_block ? m0 + block_rows : 0;
  const int64_t next_k0 = next_row_block ? k0 : k0 + block_k;
  const int64_t next_kc = k - next_k0 < block_k ? k - next_k0 : block_k;
  const int64_t rows = next_k0 >= k ? 0 : (m - next_m0 < block_rows ? m - next_m0 : block_rows);
  const char* first = static_cast<const char*>(a) + next_m0 * k * element_bytes;
  if (rows == 0) return RowPrefetcher();
  if (tile_order) {
    return RowPrefetcher(first + next_k0 * rows * element_bytes, 0, 1,
                         rows * next_kc * element_bytes, calls);
  }
  return RowPrefetcher(first + next_k0 * element_bytes, k * element_bytes, rows,
                       next_kc * element_bytes, calls);
}

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_AMX_HELPERS_H_
