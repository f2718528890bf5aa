#ifndef FP4MOE_KERNELS_W4A16_AMX_DRIVER_H_
#define FP4MOE_KERNELS_W4A16_AMX_DRIVER_H_

// The driver of the W4A16 AMX-BF16 kernels (TDPBF16PS) for every 4-bit format: only the panel
// decoder's format part differs. Blocks of 32 rows x 32 columns use 4 accumulator tiles. The
// weights of a chunk of up to 128 columns and one k block are decoded once (code x block scale,
// rounded to BF16 as the reference) into the VNNI pair layout the B tiles want (row r: 16
// columns x k 2r, 2r + 1) and reused for every row block; a row block's activations are packed
// into contiguous tiles once per k block (or loaded from the buffer's tile order, written once
// for every thread, where it has one) and reused for every column block. The tiles sum in
// float over the k block; a whole 32 x 32 block's running sums are loaded into them from a
// contiguous per-thread block and stored back there between k blocks and to C after the last,
// partial blocks add through scratch, and C takes tensor_scale at the end.
//
// Loop order (//benchmarks:amx_sequence_benchmark on the Xeon: tile products with their operands
// loaded from L1 reach 12 TFLOPS on 16 threads, from L2 7.5 to 9, from L3 3.5 to 6; C moved out of
// and back into the tiles every 8 k steps costs about a fifth): per k block, a row block's packed
// activations (32 x kKBlock BF16) and the chunk's decoded panels stay in L2 while the row block
// walks the chunk's column blocks (walking them in passes of 256 k, so that the activations stay
// in L1 and the sums go through the tiles every 8 k steps, ran the kernel and the layer slower on
// the Xeon: docs/performance-log.md); the next row block's activations are prefetched into L2 a
// few lines per k step. The next panel is decoded meanwhile (two panels per thread), in parts of
// 8 B rows spread evenly over the k steps, so that the vector decode overlaps the tile products
// instead of running between them, and the codes of the panel after it are prefetched into L2
// for that decode.
//
// Products of at most 32 rows (one row block) use no panel: every weight is multiplied once, so
// each column block's weights are decoded one step at a time into an L1 slot and multiplied at
// once (MultiplyFewRows). Whether that beats the panel schedule is not settled: the DeepSeek-V3
// layer at qlen 256 and 512 ran 9 to 17% faster in one call on the Xeon and 5 to 29% slower in
// another, whose builds also differed by up to 12% at qlen 4096, where both run the same code
// (docs/performance-log.md). The compared variant fp4_w4a16_panels_32x32_amx runs the panel
// schedule for any m. (fp4_w4a16_32x32_amx takes neither up to 16 rows: its scaled-code tables,
// kernels/e2m1_w4a16_amx_tables.h, beat the few-row schedule there.)
//
// No call that can leave this file and its decode runs between the tile configuration and the
// last tile instruction (the decode runs between tile products): the psABI lets a call clobber
// the tile configuration, and the dynamic linker's lazy binding of a library function did, on
// the Xeon (the next tile instruction then faults as undefined).
//
// In an anonymous namespace like the per-ISA helpers (see kernels/microkernel.bzl on the ODR
// trap): each kernel file instantiates its own copy. The format's part and the decode are in
// kernels/w4a16_amx_decode.h.

#include <cstdint>
#include <type_traits>

#include "kernels/amx_helpers.h"
#include "kernels/avx512_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/simd.h"
#include "kernels/thread_scratch.h"
#include "kernels/w4a16_amx_decode.h"

namespace fp4moe::kernels {
namespace {

// Tiles (see kernels/amx_helpers.h): accumulators 0..3 = C[row tile][column tile] at
// 2 * row tile + column tile, activations 4 and 5 (row tiles), weights 6 and 7 (column tiles).

// How the driver schedules and prefetches: the real kernel's choices. A compared variant (see
// Microkernel::variant) derives from it and changes one.
struct DefaultSchedule {
  // Products of at most 32 rows by MultiplyFewRows (else by the panel schedule).
  static constexpr bool kFewRows = true;
};

// The codes of the panel after the one of chunk [n0, chunk_end), k block k0 (see
// NextPanelPrefetcher), a few lines per call over `calls` calls; nothing for the ceilings
// without prefetches. (On the Xeon, prefetching that panel's block scales too, or leaving out
// this prefetch or the next row block's, gained nothing in the DeepSeek-V3 layer:
// docs/performance-log.md.)
template <typename F>
RowPrefetcher NextPanel(const WeightsView& b, int64_t n0, int64_t chunk_end, int64_t n_end,
                        int64_t k0, int64_t calls) {
  if (DriverOmits<F>::kPrefetches) return RowPrefetcher();
  return NextPanelPrefetcher(b, n0, chunk_end, n_end, kChunkColumns, k0, kKBlock, calls);
}

// Per-thread scratch, on the heap (ThreadScratch: allocated at a thread's first call, never per
// call): as thread_local data each kernel file's copy, 610 KB, took static TLS that glibc
// carves from every thread's stack, and the dozen copies of the native and emulated kernels
// and variants outgrew an 8 MB stack (a segfault on the first OpenMP worker).
struct Scratch {
  // The panel the tiles multiply, and the next one, decoded meanwhile.
  alignas(64) Panel panels[2];
  // A row block's activations over the k block as tiles (see PackRows).
  alignas(64) uint16_t a_pack[kBlockRows * kKBlock];
  alignas(64) float sums[kBlockRows][kBlockColumns];
  // Few rows: a column block's weights over one decode step (two tiles), in two slots.
  alignas(64) uint16_t ring[2][2][kDecodeStep / 2][32];
};
thread_local Scratch* scratch = nullptr;

// C[rows, columns] = (C if not the first k block) + scratch->sums, x tensor_scale after the
// last k block.
void AddSums(const GemmArgs& args, int64_t m0, int rows, int64_t n0, int columns, bool first,
             bool last) {
  const float scale = last ? args.b.tensor_scale : 1.0f;
  const __m512 scales = _mm512_set1_ps(scale);
  for (int r = 0; r < rows; ++r) {
    float* c = args.c + (m0 + r) * args.ldc + n0;
    if (columns == kBlockColumns) {
      for (int half = 0; half < 2; ++half) {
        const __m512 sum = _mm512_load_ps(&scratch->sums[r][16 * half]);
        float* out = c + 16 * half;
        _mm512_storeu_ps(
            out, _mm512_mul_ps(first ? sum : _mm512_add_ps(sum, _mm512_loadu_ps(out)), scales));
      }
      continue;
    }
    for (int j = 0; j < columns; ++j) {
      c[j] = ((first ? 0.0f : c[j]) + scratch->sums[r][j]) * scale;
    }
  }
}

// Rows [0, rows) (rows <= 32) of `a` (row stride k) over k [0, kc) packed as tiles into
// scratch->a_pack: per k step, 32 rows x k_step BF16 (rows past `rows` zero; only the first row
// tile's 16 when rows <= 16, the second is not read), so that a tile load reads 1 or 2 KB in a
// row. Tiles loaded from the activation rows themselves, 2k bytes apart,
// fall into a few L1 sets (with k = 2048, every row of a block into the same one) and do not
// stay in L1 across the column blocks.
void PackRows(const uint16_t* a, int64_t k, int rows, int64_t kc, int k_step) {
  const int packed_rows = rows > kTileRows ? kBlockRows : kTileRows;
  for (int r = 0; r < packed_rows; ++r) {
    const uint16_t* source = a + r * k;
    for (int64_t kk = 0; kk < kc; kk += k_step) {
      uint16_t* target = scratch->a_pack + kk * kBlockRows + r * k_step;
      if (k_step == 32) {
        _mm512_store_si512(target,
                           r < rows ? _mm512_loadu_si512(source + kk) : _mm512_setzero_si512());
      } else {
        _mm256_store_si256(reinterpret_cast<__m256i*>(target),
                           r < rows ? _mm256_loadu_si256(
                                          reinterpret_cast<const __m256i*>(source + kk))
                                    : _mm256_setzero_si256());
      }
    }
  }
}

// A row block's activations (rows [m0, m0 + rows)) over the k block [k0, k0 + kc): where its
// first k step starts, and the elements from one k step to the next. The buffer's tile order
// where it has one, else the rows packed into scratch->a_pack.
struct RowBlockSteps {
  const uint16_t* first;
  int64_t step;
};
template <typename F>
RowBlockSteps RowBlockActivations(const GemmArgs& args, int64_t m0, int rows, int64_t k0,
                                  int64_t kc, int k_step) {
  const int64_t k = args.b.k;
  if (DriverOmits<F>::kActivations) return {scratch->a_pack, kBlockRows * k_step};
  if (args.a_bf16.tiles != nullptr) {
    return {args.a_bf16.tiles + m0 * k + k0 * rows, rows * k_step};
  }
  if constexpr (!DriverOmits<F>::kPacking) {
    PackRows(args.a_bf16.values + m0 * k + k0, k, rows, kc, k_step);
  }
  return {scratch->a_pack, kBlockRows * k_step};
}

// Where a block's sums start and end: tiles zeroed or loaded from `in` (row stride
// `in_stride` bytes), stored to `out` (row stride `out_stride`; scratch->sums when null).
struct BlockSums {
  const float* in = nullptr;
  int64_t in_stride = 0;
  float* out = nullptr;
  int64_t out_stride = 0;
};

// The accumulators of a block: zeroed or loaded from sums.in.
template <bool kTwoRowTiles>
void StartSums(const BlockSums& sums) {
  if (sums.in == nullptr) {
    _tile_zero(0);
    _tile_zero(1);
    if (kTwoRowTiles) {
      _tile_zero(2);
      _tile_zero(3);
    }
  } else {
    const int64_t stride = sums.in_stride;
    _tile_loadd(0, sums.in, stride);
    _tile_loadd(1, sums.in + 16, stride);
    if (kTwoRowTiles) {
      _tile_loadd(2, sums.in + 16 * (stride / 4), stride);
      _tile_loadd(3, sums.in + 16 * (stride / 4) + 16, stride);
    }
  }
}

// The accumulators of a block stored to sums.out (scratch->sums when null).
template <bool kTwoRowTiles>
void EndSums(const BlockSums& sums) {
  float* out = sums.out != nullptr ? sums.out : &scratch->sums[0][0];
  const int64_t stride = sums.out != nullptr ? sums.out_stride : int64_t{sizeof scratch->sums[0]};
  _tile_stored(0, out, stride);
  _tile_stored(1, out + 16, stride);
  if (kTwoRowTiles) {
    _tile_stored(2, out + 16 * (stride / 4), stride);
    _tile_stored(3, out + 16 * (stride / 4) + 16, stride);
  }
}

// One k step of the block: its activation row tiles at `a` (rows k_step elements apart) times
// the weight rows b0 and b1 (16 columns x 2 k each) into the accumulators.
template <bool kTwoRowTiles>
[[gnu::always_inline]] inline void MultiplyStep(const uint16_t* a, int k_step,
                                                const uint16_t (*b0)[32],
                                                const uint16_t (*b1)[32]) {
  const int64_t a_stride = 2 * k_step;
  _tile_loadd(6, b0, 64);
  _tile_loadd(7, b1, 64);
  _tile_loadd(4, a, a_stride);
  _tile_dpbf16ps(0, 4, 6);
  _tile_dpbf16ps(1, 4, 7);
  if (kTwoRowTiles) {
    _tile_loadd(5, a + kTileRows * k_step, a_stride);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
}

// The row block (two row tiles, or one when it has at most 16 rows; its k steps `a_step`
// elements apart from `a`, each row k_step elements after the last) x 32 columns over the k
// block, added to the sums `sums` says. (On the Xeon, prefetching each step's tiles two steps
// ahead into L1 gained nothing at m = 128 and 1024, and neither did loading each operand of the
// next step right after its last product in this one, though that order ran bare 2 x 2 steps
// with B from L2 8 to 12% faster: docs/performance-log.md.)
template <bool kTwoRowTiles, typename F>
void MultiplyBlock(const uint16_t* a, int64_t a_step, const uint16_t (*b0)[32],
                   const uint16_t (*b1)[32], int64_t kc, int k_step, RowPrefetcher& prefetcher,
                   RowPrefetcher& weight_prefetcher, InterleavedDecode<F>& decode,
                   const BlockSums& sums) {
  StartSums<kTwoRowTiles>(sums);
  for (int64_t kk = 0; kk < kc; kk += k_step, a += a_step) {
    prefetcher.Next();
    weight_prefetcher.Next();
    decode.Step();
    if constexpr (!DriverOmits<F>::kBlockSums) {
      MultiplyStep<kTwoRowTiles>(a, k_step, b0 + kk / 2, b1 + kk / 2);
    }
  }
  EndSums<kTwoRowTiles>(sums);
}

// The same for a single row block (m <= 32), whose weights are each multiplied once: a panel in
// L2 would only add a write and a read of every decoded weight. The block's columns
// [n0, n0 + columns) are decoded one step (kDecodeStep k) at a time into an L1 slot and
// multiplied at once; the vector decode of a step and the tile products of the step before
// share no data, so the core overlaps them.
template <bool kTwoRowTiles, typename F>
void MultiplyBlockDecoding(const WeightsView& b, int64_t n0, int columns, int64_t k0,
                           int64_t kc, const uint16_t* a, int64_t a_step, int k_step,
                           RowPrefetcher& weight_prefetcher, const BlockSums& sums) {
  const int columns1 = columns > 16 ? columns - 16 : 0;
  TileDecoder<F> tile0(b, n0, columns - columns1, k0, kc), tile1(b, n0 + 16, columns1, k0, kc);
  StartSums<kTwoRowTiles>(sums);
  for (int64_t kk = 0, slot = 0; kk < kc; kk += kDecodeStep, slot ^= 1) {
    const int64_t length = kc - kk < kDecodeStep ? kc - kk : kDecodeStep;
    const uint16_t(*b0)[32] = scratch->ring[slot][0];
    const uint16_t(*b1)[32] = scratch->ring[slot][1];
    tile0.Decode(kk, length, scratch->ring[slot][0]);
    tile1.Decode(kk, length, scratch->ring[slot][1]);
    for (int64_t s = 0; s < length; s += k_step, a += a_step) {
      weight_prefetcher.Next();
      if constexpr (!DriverOmits<F>::kBlockSums) {
        MultiplyStep<kTwoRowTiles>(a, k_step, b0 + s / 2, b1 + s / 2);
      }
    }
  }
  EndSums<kTwoRowTiles>(sums);
}

// Runs multiply(two_row_tiles, sums) for the block of rows [m0, m0 + rows) x columns
// [n0, n0 + columns) over one k block and adds what it sums to C. A whole block's sums between
// k blocks go to `running` (32 x 32 floats in a row, 4 KB) where it is not null, else to C:
// C's rows, ldc floats apart, spread each tile over 16 pages and, where ldc is a multiple of
// 1024, into one L1 set (on the Xeon the running blocks ran the DeepSeek-V3 layer at qlen 4096
// 7% faster, medians of 5 and 7 in two calls; docs/performance-log.md).
template <typename F, typename Multiply>
void SumBlock(const GemmArgs& args, int64_t m0, int rows, int64_t n0, int columns, bool first,
              bool last, float* running, Multiply multiply) {
  if constexpr (DriverOmits<F>::kSums) {
    multiply(std::true_type{}, BlockSums{});
  } else if (rows == kBlockRows && columns == kBlockColumns) {
    // A whole block sums in its tiles from its running sums to C's, with no vector pass; the
    // last k block's go through scratch->sums where a tensor scale is left to apply.
    float* c = args.c + m0 * args.ldc + n0;
    const bool scale = last && args.b.tensor_scale != 1.0f;
    const int64_t stride = args.ldc * int64_t{sizeof(float)};
    constexpr int64_t kRunningStride = kBlockColumns * sizeof(float);
    BlockSums sums{first ? nullptr : c, stride, scale ? nullptr : c, stride};
    if (running != nullptr) {
      if (!first) sums.in = running, sums.in_stride = kRunningStride;
      if (!last) sums.out = running, sums.out_stride = kRunningStride;
    }
    multiply(std::true_type{}, sums);
    if (scale) AddSums(args, m0, rows, n0, columns, /*first=*/true, last);
  } else {
    // Partial blocks add through scratch->sums (one row tile where they have at most 16 rows).
    if (rows > kTileRows) {
      multiply(std::true_type{}, BlockSums{});
    } else {
      multiply(std::false_type{}, BlockSums{});
    }
    AddSums(args, m0, rows, n0, columns, first, last);
  }
}

// C[0:m, n_begin:n_end] for m <= 32 (see MultiplyBlockDecoding), chunk by chunk and k block
// by k block like the panel schedule below, so that the same prefetcher brings each next
// k block's codes into L2.
template <typename F>
void MultiplyFewRows(const GemmArgs& args, int64_t n_begin, int64_t n_end, int k_step) {
  const WeightsView& b = args.b;
  const int rows = static_cast<int>(args.m);
  for (int64_t chunk = n_begin; chunk < n_end; chunk += kChunkColumns) {
    const int64_t chunk_end = n_end - chunk < kChunkColumns ? n_end : chunk + kChunkColumns;
    const int64_t blocks = (chunk_end - chunk + kBlockColumns - 1) / kBlockColumns;
    for (int64_t k0 = 0; k0 < b.k; k0 += kKBlock) {
      const int64_t kc = b.k - k0 < kKBlock ? b.k - k0 : kKBlock;
      const RowBlockSteps a = RowBlockActivations<F>(args, 0, rows, k0, kc, k_step);
      RowPrefetcher weight_prefetcher = NextPanel<F>(
          b, chunk, chunk_end, n_end, k0, blocks * ((kc + k_step - 1) / k_step));
      for (int64_t n0 = chunk; n0 < chunk_end; n0 += kBlockColumns) {
        const int columns =
            chunk_end - n0 < kBlockColumns ? static_cast<int>(chunk_end - n0) : kBlockColumns;
        SumBlock<F>(args, 0, rows, n0, columns, k0 == 0, k0 + kc == b.k, /*running=*/nullptr,
                    [&](auto two_row_tiles, const BlockSums& sums) {
                      MultiplyBlockDecoding<decltype(two_row_tiles)::value, F>(
                          b, n0, columns, k0, kc, a.first, a.step, k_step, weight_prefetcher,
                          sums);
                    });
      }
    }
  }
}

// C[0:m, n_begin:n_end] for weights of the format F (k a multiple of 16), scheduled as S says.
template <typename F, typename S = DefaultSchedule>
void MultiplyW4a16Amx(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  const WeightsView& b = args.b;
  const int64_t m = args.m;
  // k steps of 32 (a 64-byte A row); 16 when k is an odd multiple of 16 (k = 16 included).
  const int k_step = b.k % 32 == 0 ? 32 : 16;
  const int64_t row_blocks = (m + kBlockRows - 1) / kBlockRows;
  // The panel schedule's whole blocks' running sums between k blocks (see SumBlock), per row
  // block and column block of a chunk.
  constexpr int64_t kChunkBlocks = kChunkColumns / kBlockColumns;
  constexpr int64_t kBlockFloats = kBlockRows * kBlockColumns;
  const bool keeps_running = m > kBlockRows && b.k > kKBlock;
  const int64_t running_bytes =
      keeps_running ? row_blocks * kChunkBlocks * kBlockFloats * int64_t{sizeof(float)} : 0;
  auto* memory = static_cast<uint8_t*>(ThreadScratch(sizeof(Scratch) + running_bytes));
  scratch = reinterpret_cast<Scratch*>(memory);
  float* const running_sums =
      keeps_running ? reinterpret_cast<float*>(memory + sizeof(Scratch)) : nullptr;
  ConfigureTiles(2 * k_step);
  if (S::kFewRows && m <= kBlockRows) {
    MultiplyFewRows<F>(args, n_begin, n_end, k_step);
    _tile_release();
    return;
  }
  const uint16_t* tiles = args.a_bf16.tiles;

  const auto chunk_columns_at = [&](int64_t chunk) {
    return n_end - chunk < kChunkColumns ? n_end - chunk : kChunkColumns;
  };
  // Whole column blocks: an odd last tile pairs with a zero one.
  const auto blocks_at = [&](int64_t chunk) {
    return static_cast<int>((chunk_columns_at(chunk) + kBlockColumns - 1) / kBlockColumns);
  };
  const auto kc_at = [&](int64_t k0) { return b.k - k0 < kKBlock ? b.k - k0 : kKBlock; };
  // The panels in order, chunk by chunk and k block by k block: the first decoded before any
  // product, each next one while the tiles multiply the one before.
  PanelDecoder<F> decoder;
  const auto start_decode = [&](int64_t chunk, int64_t k0, Panel& panel) {
    decoder.Start(b, chunk, static_cast<int>(chunk_columns_at(chunk)), 2 * blocks_at(chunk), k0,
                  kc_at(k0), panel);
  };
  int current = 0;
  start_decode(n_begin, 0, scratch->panels[current]);
  decoder.Finish();
  for (int64_t chunk = n_begin; chunk < n_end; chunk += kChunkColumns) {
    const int blocks = blocks_at(chunk);
    for (int64_t k0 = 0; k0 < b.k; k0 += kKBlock) {
      const int64_t kc = kc_at(k0);
      const bool first = k0 == 0;
      const bool last = k0 + kc == b.k;
      // The next panel: this chunk's next k block, else the next chunk's first.
      const int64_t next_chunk = last ? chunk + kChunkColumns : chunk;
      const int64_t next_k0 = last ? 0 : k0 + kKBlock;
      const bool has_next = next_chunk < n_end;
      if (has_next) start_decode(next_chunk, next_k0, scratch->panels[1 - current]);
      const int64_t block_steps = blocks * ((kc + k_step - 1) / k_step);
      const int64_t steps = row_blocks * block_steps;
      InterleavedDecode<F> decode(decoder, steps);
      // The codes of the panel after that, a few lines per k step of every row block, so that
      // its decode reads them from L2.
      RowPrefetcher weight_prefetcher =
          has_next ? NextPanel<F>(b, next_chunk, next_chunk + chunk_columns_at(next_chunk), n_end,
                                  next_k0, steps)
                   : RowPrefetcher();
      const Panel& panel = scratch->panels[current];
      for (int64_t m0 = 0; m0 < m; m0 += kBlockRows) {
        const int rows = m - m0 < kBlockRows ? static_cast<int>(m - m0) : kBlockRows;
        const RowBlockSteps a = RowBlockActivations<F>(args, m0, rows, k0, kc, k_step);
        // What the next row block reads or packs, while this one runs.
        RowPrefetcher prefetcher =
            DriverOmits<F>::kPrefetches
                ? RowPrefetcher()
                : NextRowBlockPrefetcher(tiles != nullptr ? tiles : args.a_bf16.values,
                                         tiles != nullptr, sizeof(uint16_t), m, b.k, m0,
                                         kBlockRows, k0, kKBlock, block_steps);
        for (int block = 0; block < blocks; ++block) {
          const int64_t n0 = chunk + block * kBlockColumns;
          const int columns =
              n_end - n0 < kBlockColumns ? static_cast<int>(n_end - n0) : kBlockColumns;
          const uint16_t(*b0)[32] = panel[2 * block];
          const uint16_t(*b1)[32] = panel[2 * block + 1];
          const int64_t block_index = m0 / kBlockRows * kChunkBlocks + block;
          float* running =
              running_sums != nullptr ? running_sums + block_index * kBlockFloats : nullptr;
          SumBlock<F>(args, m0, rows, n0, columns, first, last, running,
                      [&](auto two_row_tiles, const BlockSums& sums) {
                        MultiplyBlock<decltype(two_row_tiles)::value, F>(
                            a.first, a.step, b0, b1, kc, k_step, prefetcher, weight_prefetcher,
                            decode, sums);
                      });
        }
      }
      decoder.Finish();
      current = 1 - current;
    }
  }
  _tile_release();
}

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_W4A16_AMX_DRIVER_H_
