#ifndef FP4MOE_KERNELS_AMX_HELPERS_H_
#define FP4MOE_KERNELS_AMX_HELPERS_H_

// Tile setup shared by the AMX microkernels, natively and through the tile emulation
// (FP4MOE_AMX_EMULATION). In an anonymous namespace for the same reason as
// kernels/avx512_helpers.h.

#include <cstdint>

#include "kernels/amx_tile_config.h"
#include "kernels/simd.h"
#if defined(FP4MOE_AMX_EMULATION)
#include "kernels/amx_emulation.h"
#endif

namespace fp4moe::kernels {
namespace {

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
  _tile_loadconfig(&config);
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

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_AMX_HELPERS_H_
