#ifndef FP4MOE_KERNELS_W4A16_AMX_DRIVER_H_
#define FP4MOE_KERNELS_W4A16_AMX_DRIVER_H_

// The driver of the W4A16 AMX-BF16 kernels (TDPBF16PS) for every 4-bit format: only the panel
// decoder's format part differs. Blocks of 32 rows x 32 columns use 4 accumulator tiles. The
// weights of a chunk of up to 128 columns and one k block are decoded once (code x block scale,
// rounded to BF16 as the reference) into the VNNI pair layout the B tiles want (row r: 16
// columns x k 2r, 2r + 1) and reused for every row block; a row block's activations are packed
// into contiguous tiles once per k block (or loaded from the buffer's tile order, written once
// for every thread, where it has one) and reused for every column block. The tiles sum in
// float over the k block; a whole 32 x 32 block of C is loaded into them and stored back from
// them, partial blocks add through scratch, and C takes tensor_scale at the end.
//
// Loop order (//benchmarks:amx_sequence_benchmark on the Xeon: tile products with their operands
// loaded from L1 reach 12 TFLOPS on 16 threads, from L2 7.5 to 9, from L3 3.5 to 6; C moved
// out of and back into the tiles every 8 k steps costs about a fifth): per k block, a row
// block's packed activations (32 x kKBlock BF16) and the chunk's decoded panels stay in L2 while
// the row block walks the chunk's column blocks; the next row block's activations are
// prefetched into L2 a few lines per k step. The next panel is decoded meanwhile, one tile's
// decode step every few k steps (two panels per thread), so that the vector decode overlaps
// the tile products instead of running between them, and the codes of the panel after it are
// prefetched into L2 for that decode.
//
// Products of at most 32 rows (one row block) use no panel: every weight is multiplied once, so
// each column block's weights are decoded one step at a time into an L1 slot and multiplied at
// once (MultiplyFewRows). Whether that beats the panel schedule is not settled: the DeepSeek-V3
// layer at qlen 256 and 512 ran 9 to 17% faster in one call on the Xeon and 5 to 29% slower in
// another, whose builds also differed by up to 12% at qlen 4096, where both run the same code
// (README). The compared variant fp4_w4a16_panels_32x32_amx runs the panel schedule for any m.
//
// No call that can leave this file runs between the tile configuration and the last tile
// instruction (the decode runs between tile products): the psABI lets a call clobber the tile
// configuration, and the dynamic linker's lazy binding of a library function did, on the Xeon
// (the next tile instruction then faults as undefined).
//
// In an anonymous namespace like the per-ISA helpers (see kernels/microkernel.bzl on the ODR
// trap): each kernel file instantiates its own copy. The format's part is a struct F with
//   static __m512 Values();  // the value of each 4-bit code as a float, lane = code
//   class Scales {           // the scales of one 16-column tile over one k block
//    public:
//     Scales(const WeightsView& b, int64_t n0, int columns, int64_t k0, int64_t kc);
//     void Step(int64_t kk, int64_t length);  // before the decode step at k0 + kk
//     __m512 Run(int j) const;  // the 16 columns' scales of the step's k 8j .. 8j + 7
//   };
//   static __m512i PairBf16(__m512 even, __m512 odd);
//       // the decoded weights of k 2i and 2i + 1 as BF16 VNNI pairs (even in the low word),
//       // rounded as the format's reference rounds them
//   static constexpr bool kHalfProducts;  // decode by FP16 products instead (each exact and
//       // normal, so its BF16 is its FP16 rebiased), with:
//   static __m512i HalfValues();  // FP16 value of code c x 2^8 in words c and 16 + c
//   __m512i Scales::HalfBlock(int block) const;  // FP16 scale x 2^-8 of the step's k
//       // 16 block .. 16 block + 15, in both words of each lane

#include <cstdint>
#include <optional>
#include <type_traits>

#include "kernels/amx_helpers.h"
#include "kernels/avx512_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {
namespace {

constexpr int kTileRows = 16;
constexpr int kBlockRows = 32;
constexpr int kBlockColumns = 32;
// k per block (a multiple of 256): a row block's activations (64 KB) and the chunk's panels
// (256 KB) stay in L2. Every k block moves each C block through the tiles once more; at 1024
// the DeepSeek-V3 layer at qlen 4096 ran 13% faster on the Xeon than at 512 (and the same as
// at 2048, whose panels take twice the L2), measured alternating in one run (README).
constexpr int64_t kKBlock = 1024;
// Column tiles decoded per k block (128 columns: a 16-thread slice of n = 2048).
constexpr int kChunkTiles = 8;
constexpr int64_t kChunkColumns = kChunkTiles * kBlockColumns / 2;
// k of one decode step: 64 code bytes per column, one vector.
constexpr int64_t kDecodeStep = 128;

// Tiles (see kernels/amx_helpers.h): accumulators 0..3 = C[row tile][column tile] at
// 2 * row tile + column tile, activations 4 and 5 (row tiles), weights 6 and 7 (column tiles).

// What the driver leaves out, for the ceilings of benchmarks/ceiling_kernels.h (which specialize
// it); real kernels leave out nothing.
template <typename F>
struct DriverOmits {
  static constexpr bool kDecode = false;   // the panels keep what they hold
  static constexpr bool kPacking = false;  // the packed activations keep what they hold
  static constexpr bool kSums = false;     // C is neither read nor written
  static constexpr bool kPrefetches = false;  // nothing is prefetched
};

// How the driver schedules and prefetches: the real kernel's choices. A compared variant (see
// Microkernel::variant) derives from it and changes one.
struct DefaultSchedule {
  // Products of at most 32 rows by MultiplyFewRows (else by the panel schedule).
  static constexpr bool kFewRows = true;
  // The next panel's block scales prefetched beside its codes (else the decode's first reads
  // of them wait for DRAM).
  static constexpr bool kPrefetchScales = false;
};

// The next panel's codes (and, where the schedule says so, its scales), a few lines per call.
struct PanelPrefetcher {
  RowPrefetcher codes, scales;
  void Next() {
    codes.Next();
    scales.Next();
  }
};

// The prefetches of the panel after the one of chunk [n0, chunk_end), k block k0 (see
// NextPanelPrefetcher), spread over `calls` calls: what S asks for, nothing for the ceilings.
template <typename F, typename S>
PanelPrefetcher NextPanel(const WeightsView& b, int64_t n0, int64_t chunk_end, int64_t n_end,
                          int64_t k0, int64_t calls) {
  if (DriverOmits<F>::kPrefetches) return {};
  return {NextPanelPrefetcher(b, n0, chunk_end, n_end, kChunkColumns, k0, kKBlock, calls),
          S::kPrefetchScales ? NextPanelPrefetcher(b, n0, chunk_end, n_end, kChunkColumns, k0,
                                                   kKBlock, calls, /*scales=*/true)
                             : RowPrefetcher()};
}

// Decoded weights of a chunk over one k block: per 16-column tile, kKBlock / 2 VNNI rows of 16
// columns x 2 consecutive k.
using Panel = uint16_t[kChunkTiles][kKBlock / 2][32];

// Per-thread scratch (no allocation per call).
struct Scratch {
  // The panel the tiles multiply, and the next one, decoded meanwhile.
  alignas(64) Panel panels[2];
  // A row block's activations over the k block as tiles (see PackRows).
  alignas(64) uint16_t a_pack[kBlockRows * kKBlock];
  alignas(64) float sums[kBlockRows][kBlockColumns];
  // Few rows: a column block's weights over one decode step (two tiles), in two slots.
  alignas(64) uint16_t ring[2][2][kDecodeStep / 2][32];
};
thread_local Scratch scratch;

// a x b, FP16 lanes (AVX512-FP16's vmulph; for the emulated copy, in float with F16C: the float
// product of two FP16 values is exact, so it rounds once, as vmulph does).
__m512i MultiplyHalves(__m512i a, __m512i b) {
#if defined(FP4MOE_SIMDE)
  alignas(64) uint16_t x[32], y[32], product[32];
  _mm512_store_si512(x, a);
  _mm512_store_si512(y, b);
  for (int i = 0; i < 32; i += 8) {
    const __m256 xs = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(x + i)));
    const __m256 ys = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(y + i)));
    const __m256 p = _mm256_mul_ps(xs, ys);
    _mm_store_si128(reinterpret_cast<__m128i*>(product + i),
                    _mm256_cvtps_ph(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  return _mm512_load_si512(product);
#else
  return _mm512_castph_si512(_mm512_mul_ph(_mm512_castsi512_ph(a), _mm512_castsi512_ph(b)));
#endif
}

// FP16 zeros and normals to BF16 (sign, exponent + 127 - 15, top 7 of 10 mantissa bits): exact
// where the low 3 mantissa bits are zero, as they are in a product of at most 6 significant bits.
__m512i HalvesToBf16(__m512i halves) {
  // Arithmetic shift, then bits 12..14 (sign copies) cleared: sign, 0, 0, 0, exponent, mantissa.
  const __m512i shifted = _mm512_and_si512(_mm512_srai_epi16(halves, 3),
                                           _mm512_set1_epi16(static_cast<int16_t>(0x8FFF)));
  // Zeros to +0: no move to keep the unmasked words.
  const __mmask32 nonzero = _mm512_test_epi16_mask(halves, _mm512_set1_epi16(0x7FFF));
  return _mm512_maskz_add_epi16(nonzero, shifted, _mm512_set1_epi16(112 << 7));
}

// Decodes columns [n0, n0 + columns) (at most 16; missing ones zero) x k [k0 + kk, k0 + kk +
// length) (length <= kDecodeStep, a multiple of 16) into length / 2 VNNI rows from `rows`, with
// `scales` (the tile's over the k block [k0, ...)). Each column's 64 code bytes are one vector
// and a 16 x 16 dword transpose turns them into vectors of 4 k pairs (one byte each) per column
// (dword lane): byte q of every lane, its nibbles looked up as floats (vpermps reads the low 4
// bits of an index) and multiplied by the column's scale, is a B row. Transposing the codes
// moves a quarter of the bytes that transposing the decoded BF16 would.
template <typename F>
void DecodeStep(const WeightsView& b, int64_t n0, int columns, int64_t k0, int64_t kk,
                int64_t length, typename F::Scales& scales, uint16_t (*rows)[32]) {
  const __m512 values = F::Values();
  const int64_t code_row = b.k / 2;
  scales.Step(kk, length);
  __m512i by_column[16], by_pairs[16];
  for (int c = 0; c < 16; ++c) {
    if (c >= columns) {
      by_column[c] = _mm512_setzero_si512();
      continue;
    }
    const uint8_t* codes = b.codes + (n0 + c) * code_row + (k0 + kk) / 2;
    by_column[c] =
        length == kDecodeStep ? _mm512_loadu_si512(codes) : LoadPrefix(codes, length / 2);
  }
  TransposeDwords(by_column, by_pairs);
  // by_pairs[j]: k pairs 4j .. 4j + 3 of every column.
  if constexpr (F::kHalfProducts) {
    // Per lane, each word's code to its low 5 bits (vpermw's index: the table is repeated, so
    // bit 4, the next nibble's, does not matter), looked up as FP16 and multiplied by the
    // scale: 32 weights per multiply where floats give 16.
    const __m512i values = F::HalfValues();
    for (int block = 0; block < length / 16; ++block) {
      const __m512i scale = scales.HalfBlock(block);
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) {  // row 8 block + r: byte q of by_pairs[j]
        const int j = 2 * block + r / 4, q = r % 4;
        // Bytes 0, 2, 4, 6 of each qword from bits 8q, 8q + 4, 32 + 8q, 36 + 8q.
        const uint64_t even = 8 * q, odd = 8 * q + 4;
        const uint64_t shifts = even | odd << 16 | (even + 32) << 32 | (odd + 32) << 48;
        const __m512i codes =
            _mm512_multishift_epi64_epi8(_mm512_set1_epi64(static_cast<int64_t>(shifts)),
                                         by_pairs[j]);
        _mm512_store_si512(rows[8 * block + r],
                           HalvesToBf16(MultiplyHalves(_mm512_permutexvar_epi16(codes, values),
                                                       scale)));
      }
    }
    return;
  }
  for (int j = 0; j < length / 8; ++j) {
    const __m512 scale = scales.Run(j);
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {  // unrolled: immediate shift counts
      const __m512i even_codes = _mm512_srli_epi32(by_pairs[j], 8 * q);
      // The odd nibble to each lane's low bits by a byte multishift (bits 8q + 4 of the
      // low dword, 32 + 8q + 4 of the high one), which runs beside the shifts and multiplies.
      const uint64_t odd_shifts = (8 * q + 4) | static_cast<uint64_t>(8 * q + 36) << 32;
      const __m512i odd_codes = _mm512_multishift_epi64_epi8(
          _mm512_set1_epi64(static_cast<int64_t>(odd_shifts)), by_pairs[j]);
      const __m512 even = _mm512_mul_ps(_mm512_permutexvar_ps(even_codes, values), scale);
      const __m512 odd = _mm512_mul_ps(_mm512_permutexvar_ps(odd_codes, values), scale);
      _mm512_store_si512(rows[4 * j + q], F::PairBf16(even, odd));
    }
  }
}

// The decode steps of one tile (columns [n0, n0 + columns), at most 16; missing ones zero) over
// one k block [k0, k0 + kc), each into the rows it is given.
template <typename F, bool kOmitted = DriverOmits<F>::kDecode>
class TileDecoder {
 public:
  TileDecoder(const WeightsView& b, int64_t n0, int columns, int64_t k0, int64_t kc)
      : b_(b), n0_(n0), columns_(columns), k0_(k0), scales_(b, n0, columns, k0, kc) {}

  void Decode(int64_t kk, int64_t length, uint16_t (*rows)[32]) {
    DecodeStep<F>(b_, n0_, columns_, k0_, kk, length, scales_, rows);
  }

 private:
  const WeightsView& b_;
  int64_t n0_;
  int columns_;
  int64_t k0_;
  typename F::Scales scales_;
};

// The ceilings' decoder, which leaves the rows as they are.
template <typename F>
class TileDecoder<F, true> {
 public:
  TileDecoder(const WeightsView&, int64_t, int, int64_t, int64_t) {}
  void Decode(int64_t, int64_t, uint16_t (*)[32]) {}
};

// Decodes columns [n0, n0 + columns) x k [k0, k0 + kc) into a panel's first `tiles` tiles
// (missing columns zero) one unit at a time, a unit being one tile's decode step, so that the
// next panel's decode runs between the tile products of this one: the vector work then
// overlaps the tile unit's.
template <typename F, bool kOmitted = DriverOmits<F>::kDecode>
class PanelDecoder {
 public:
  void Start(const WeightsView& b, int64_t n0, int columns, int tiles, int64_t k0, int64_t kc,
             Panel& panel) {
    b_ = &b;
    n0_ = n0;
    columns_ = columns;
    tiles_ = tiles;
    k0_ = k0;
    kc_ = kc;
    panel_ = &panel;
    tile_ = 0;
    kk_ = 0;
    if (tiles_ > 0) StartTile();
  }

  // The units not decoded yet.
  int64_t UnitsLeft() const {
    const int64_t steps = (kc_ + kDecodeStep - 1) / kDecodeStep;
    return tile_ >= tiles_ ? 0 : (tiles_ - tile_) * steps - kk_ / kDecodeStep;
  }

  void Next() {
    if (tile_ >= tiles_) return;
    const int64_t length = kc_ - kk_ < kDecodeStep ? kc_ - kk_ : kDecodeStep;
    tile_decoder_->Decode(kk_, length, (*panel_)[tile_] + kk_ / 2);
    kk_ += kDecodeStep;
    if (kk_ < kc_) return;
    kk_ = 0;
    if (++tile_ < tiles_) StartTile();
  }

  void Finish() {
    while (tile_ < tiles_) Next();
  }

 private:
  void StartTile() {
    const int columns = columns_ - 16 * tile_;
    tile_decoder_.emplace(*b_, n0_ + 16 * tile_, columns < 0 ? 0 : (columns < 16 ? columns : 16),
                          k0_, kc_);
  }

  const WeightsView* b_ = nullptr;
  int64_t n0_ = 0, k0_ = 0, kc_ = 0, kk_ = 0;
  int columns_ = 0, tiles_ = 0, tile_ = 0;
  Panel* panel_ = nullptr;
  std::optional<TileDecoder<F>> tile_decoder_;
};

// The ceilings' decoder, which leaves the panels as they are.
template <typename F>
class PanelDecoder<F, true> {
 public:
  void Start(const WeightsView&, int64_t, int, int, int64_t, int64_t, Panel&) {}
  int64_t UnitsLeft() const { return 0; }
  void Next() {}
  void Finish() {}
};

// Runs the next decode unit every `interval` calls of Step.
template <typename F>
class InterleavedDecode {
 public:
  InterleavedDecode(PanelDecoder<F>& decoder, int64_t interval)
      : decoder_(decoder), interval_(interval), countdown_(interval) {}

  void Step() {
    if (--countdown_ > 0) return;
    countdown_ = interval_;
    decoder_.Next();
  }

 private:
  PanelDecoder<F>& decoder_;
  int64_t interval_, countdown_;
};

// C[rows, columns] = (C if not the first k block) + scratch.sums, x tensor_scale after the
// last k block.
void AddSums(const GemmArgs& args, int64_t m0, int rows, int64_t n0, int columns, bool first,
             bool last) {
  const float scale = last ? args.b.tensor_scale : 1.0f;
  const __m512 scales = _mm512_set1_ps(scale);
  for (int r = 0; r < rows; ++r) {
    float* c = args.c + (m0 + r) * args.ldc + n0;
    if (columns == kBlockColumns) {
      for (int half = 0; half < 2; ++half) {
        const __m512 sum = _mm512_load_ps(&scratch.sums[r][16 * half]);
        float* out = c + 16 * half;
        _mm512_storeu_ps(
            out, _mm512_mul_ps(first ? sum : _mm512_add_ps(sum, _mm512_loadu_ps(out)), scales));
      }
      continue;
    }
    for (int j = 0; j < columns; ++j) {
      c[j] = ((first ? 0.0f : c[j]) + scratch.sums[r][j]) * scale;
    }
  }
}

// Rows [0, rows) (rows <= 32) of `a` (row stride k) over k [0, kc) packed as tiles into
// scratch.a_pack: per k step, 32 rows x k_step BF16 (rows past `rows` zero; only the first row
// tile's 16 when rows <= 16, the second is not read), so that a tile load reads 1 or 2 KB in a
// row. Tiles loaded from the activation rows themselves, 2k bytes apart,
// fall into a few L1 sets (with k = 2048, every row of a block into the same one) and do not
// stay in L1 across the column blocks.
void PackRows(const uint16_t* a, int64_t k, int rows, int64_t kc, int k_step) {
  const int packed_rows = rows > kTileRows ? kBlockRows : kTileRows;
  for (int r = 0; r < packed_rows; ++r) {
    const uint16_t* source = a + r * k;
    for (int64_t kk = 0; kk < kc; kk += k_step) {
      uint16_t* target = scratch.a_pack + kk * kBlockRows + r * k_step;
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
// where it has one, else the rows packed into scratch.a_pack.
struct RowBlockSteps {
  const uint16_t* first;
  int64_t step;
};
template <typename F>
RowBlockSteps RowBlockActivations(const GemmArgs& args, int64_t m0, int rows, int64_t k0,
                                  int64_t kc, int k_step) {
  const int64_t k = args.b.k;
  if (args.a_bf16.tiles != nullptr) {
    return {args.a_bf16.tiles + m0 * k + k0 * rows, rows * k_step};
  }
  if constexpr (!DriverOmits<F>::kPacking) {
    PackRows(args.a_bf16.values + m0 * k + k0, k, rows, kc, k_step);
  }
  return {scratch.a_pack, kBlockRows * k_step};
}

// Where a block's sums start and end: tiles zeroed or loaded from `in`, stored to `out`
// (row stride `stride` bytes; scratch.sums when out is null).
struct BlockSums {
  const float* in = nullptr;
  float* out = nullptr;
  int64_t stride = 0;
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
    _tile_loadd(0, sums.in, sums.stride);
    _tile_loadd(1, sums.in + 16, sums.stride);
    if (kTwoRowTiles) {
      _tile_loadd(2, sums.in + 16 * (sums.stride / 4), sums.stride);
      _tile_loadd(3, sums.in + 16 * (sums.stride / 4) + 16, sums.stride);
    }
  }
}

// The accumulators of a block stored to sums.out (scratch.sums when null).
template <bool kTwoRowTiles>
void EndSums(const BlockSums& sums) {
  float* out = sums.out != nullptr ? sums.out : &scratch.sums[0][0];
  const int64_t stride = sums.out != nullptr ? sums.stride : int64_t{sizeof scratch.sums[0]};
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
// block, added to the sums `sums` says.
template <bool kTwoRowTiles, typename F>
void MultiplyBlock(const uint16_t* a, int64_t a_step, const uint16_t (*b0)[32],
                   const uint16_t (*b1)[32], int64_t kc, int k_step, RowPrefetcher& prefetcher,
                   PanelPrefetcher& weight_prefetcher, InterleavedDecode<F>& decode,
                   const BlockSums& sums) {
  StartSums<kTwoRowTiles>(sums);
  for (int64_t kk = 0; kk < kc; kk += k_step, a += a_step) {
    prefetcher.Next();
    weight_prefetcher.Next();
    decode.Step();
    MultiplyStep<kTwoRowTiles>(a, k_step, b0 + kk / 2, b1 + kk / 2);
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
                           PanelPrefetcher& weight_prefetcher, const BlockSums& sums) {
  const int columns1 = columns > 16 ? columns - 16 : 0;
  TileDecoder<F> tile0(b, n0, columns - columns1, k0, kc), tile1(b, n0 + 16, columns1, k0, kc);
  StartSums<kTwoRowTiles>(sums);
  for (int64_t kk = 0, slot = 0; kk < kc; kk += kDecodeStep, slot ^= 1) {
    const int64_t length = kc - kk < kDecodeStep ? kc - kk : kDecodeStep;
    const uint16_t(*b0)[32] = scratch.ring[slot][0];
    const uint16_t(*b1)[32] = scratch.ring[slot][1];
    tile0.Decode(kk, length, scratch.ring[slot][0]);
    tile1.Decode(kk, length, scratch.ring[slot][1]);
    for (int64_t s = 0; s < length; s += k_step, a += a_step) {
      weight_prefetcher.Next();
      MultiplyStep<kTwoRowTiles>(a, k_step, b0 + s / 2, b1 + s / 2);
    }
  }
  EndSums<kTwoRowTiles>(sums);
}

// Runs multiply(two_row_tiles, sums) for the block of rows [m0, m0 + rows) x columns
// [n0, n0 + columns) over one k block and adds what it sums to C.
template <typename F, typename Multiply>
void SumBlock(const GemmArgs& args, int64_t m0, int rows, int64_t n0, int columns, bool first,
              bool last, Multiply multiply) {
  if constexpr (DriverOmits<F>::kSums) {
    multiply(std::true_type{}, BlockSums{});
  } else if (rows == kBlockRows && columns == kBlockColumns) {
    // A whole block sums in its tiles from C's partial sums to C's, with no vector pass; the
    // last k block's go through scratch.sums where a tensor scale is left to apply.
    float* c = args.c + m0 * args.ldc + n0;
    const bool scale = last && args.b.tensor_scale != 1.0f;
    const int64_t stride = args.ldc * int64_t{sizeof(float)};
    multiply(std::true_type{}, BlockSums{first ? nullptr : c, scale ? nullptr : c, stride});
    if (scale) AddSums(args, m0, rows, n0, columns, /*first=*/true, last);
  } else {
    // Partial blocks add through scratch.sums (one row tile where they have at most 16 rows).
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
template <typename F, typename S>
void MultiplyFewRows(const GemmArgs& args, int64_t n_begin, int64_t n_end, int k_step) {
  const WeightsView& b = args.b;
  const int rows = static_cast<int>(args.m);
  for (int64_t chunk = n_begin; chunk < n_end; chunk += kChunkColumns) {
    const int64_t chunk_end = n_end - chunk < kChunkColumns ? n_end : chunk + kChunkColumns;
    const int64_t blocks = (chunk_end - chunk + kBlockColumns - 1) / kBlockColumns;
    for (int64_t k0 = 0; k0 < b.k; k0 += kKBlock) {
      const int64_t kc = b.k - k0 < kKBlock ? b.k - k0 : kKBlock;
      const RowBlockSteps a = RowBlockActivations<F>(args, 0, rows, k0, kc, k_step);
      PanelPrefetcher weight_prefetcher = NextPanel<F, S>(
          b, chunk, chunk_end, n_end, k0, blocks * ((kc + k_step - 1) / k_step));
      for (int64_t n0 = chunk; n0 < chunk_end; n0 += kBlockColumns) {
        const int columns =
            chunk_end - n0 < kBlockColumns ? static_cast<int>(chunk_end - n0) : kBlockColumns;
        SumBlock<F>(args, 0, rows, n0, columns, k0 == 0, k0 + kc == b.k,
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
  ConfigureTiles(2 * k_step);
  if (S::kFewRows && m <= kBlockRows) {
    MultiplyFewRows<F, S>(args, n_begin, n_end, k_step);
    _tile_release();
    return;
  }
  const uint16_t* tiles = args.a_bf16.tiles;

  const int64_t row_blocks = (m + kBlockRows - 1) / kBlockRows;
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
  start_decode(n_begin, 0, scratch.panels[current]);
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
      if (has_next) start_decode(next_chunk, next_k0, scratch.panels[1 - current]);
      const int64_t block_steps = blocks * ((kc + k_step - 1) / k_step);
      const int64_t steps = row_blocks * block_steps;
      const int64_t units = decoder.UnitsLeft();
      InterleavedDecode<F> decode(decoder, units > 0 && units < steps ? steps / units : 1);
      // The codes of the panel after that, a few lines per k step of every row block, so that
      // its decode reads them from L2.
      PanelPrefetcher weight_prefetcher =
          has_next ? NextPanel<F, S>(b, next_chunk, next_chunk + chunk_columns_at(next_chunk),
                                     n_end, next_k0, steps)
                   : PanelPrefetcher();
      const Panel& panel = scratch.panels[current];
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
          SumBlock<F>(args, m0, rows, n0, columns, first, last,
                      [&](auto two_row_tiles, const BlockSums& sums) {
                        MultiplyBlock<decltype(two_row_tiles)::value>(
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
