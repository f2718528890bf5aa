#ifndef FP4MOE_KERNELS_W4A16_AMX_DECODE_H_
#define FP4MOE_KERNELS_W4A16_AMX_DECODE_H_

// The weight decode of the W4A16 AMX driver (kernels/w4a16_amx_driver.h): its blocking, the
// format part it takes, and the decode of 4-bit weights into the VNNI rows of BF16 B tiles, one
// step (kDecodeStep k of 16 columns) at a time, into L1 slots or into panels. In an anonymous
// namespace, as the driver.
//
// The format's part is a struct F with
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
//   static __m512i Bf16Values();  // BF16 value of code c in words c and 16 + c (for the
//       // kernels that scale block sums instead, kernels/w4a16_amx_sums_driver.h)
//   static constexpr bool kExponentAdd;  // power-of-two scales: decode by adding the scale's
//       // exponent to each code's BF16 where that is exact, with:
//   bool Scales::ExponentsInRange() const;  // whether it is, for the whole step
//   __m512i Scales::ExponentBlock(int block) const;  // the exponent-field offsets of the
//       // step's k 16 block .. 16 block + 15, in both words of each lane

#include <cstdint>
#include <optional>

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
// at 2048, whose panels take twice the L2), measured alternating in one run
// (docs/performance-log.md).
constexpr int64_t kKBlock = 1024;
// Column tiles decoded per k block (128 columns: a 16-thread slice of n = 2048).
constexpr int kChunkTiles = 8;
constexpr int64_t kChunkColumns = kChunkTiles * kBlockColumns / 2;
// k of one decode step: 64 code bytes per column, one vector.
constexpr int64_t kDecodeStep = 128;

// What a driver leaves out: nothing, for real kernels. The ceilings of
// benchmarks/ceiling_kernels.h specialize DriverOmits, deriving from this and setting only
// what they leave out.
struct OmitsNothing {
  static constexpr bool kDecode = false;   // the panels keep what they hold
  static constexpr bool kPacking = false;  // the packed activations keep what they hold
  static constexpr bool kSums = false;     // C is neither read nor written
  // Every row block's activations are the packed block as it is (no activation traffic)
  static constexpr bool kActivations = false;
  static constexpr bool kPrefetches = false;  // nothing is prefetched
  // The panel decode's code loads all read one L1-resident line (weights' first 64 bytes), not
  // the 16 code rows of each step: what gathering the codes costs
  static constexpr bool kCodeGather = false;
  // The tile loads and products (of the panel driver and the scaled-code-table driver,
  // kernels/e2m1_w4a16_amx_tables.h; for the scaled-sums driver, kernels/w4a16_amx_sums_driver.h,
  // its block sums' tile loads, products and stores)
  static constexpr bool kBlockSums = false;
  // The scaled-sums driver also leaves out, for its own:
  static constexpr bool kScaling = false;    // the float scaling of the block sums
};

template <typename F>
struct DriverOmits : OmitsNothing {};

// A vpermw table of the 16 codes' values (Bf16Values, HalfValues): words c and 16 + c hold code
// c's, so that bit 4 of an index (the next nibble's, which RowCodeWords leaves) does not matter.
struct CodeWords {
  alignas(64) uint16_t words[32];
};
constexpr CodeWords Twice(const uint16_t (&words)[16]) {
  CodeWords table{};
  for (int c = 0; c < 32; ++c) table.words[c] = words[c % 16];
  return table;
}

// Decoded weights of a chunk over one k block: per 16-column tile, kKBlock / 2 VNNI rows of 16
// columns x 2 consecutive k.
using Panel = uint16_t[kChunkTiles][kKBlock / 2][32];

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

// a + b in the words `mask` selects, a in the others, wrapping as vpaddw does (for the emulated
// copy, word by word in unsigned arithmetic: SIMDe adds 16-bit words as signed shorts, whose
// overflow, e.g. in a masked-off word, is undefined).
__m512i MaskAddWords(__m512i a, __mmask32 mask, __m512i b) {
#if defined(FP4MOE_SIMDE)
  alignas(64) uint16_t x[32], y[32];
  _mm512_store_si512(x, a);
  _mm512_store_si512(y, b);
  for (int i = 0; i < 32; ++i) {
    if (mask >> i & 1) x[i] = static_cast<uint16_t>(x[i] + y[i]);
  }
  return _mm512_load_si512(x);
#else
  return _mm512_mask_add_epi16(a, mask, a, b);
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

// The codes of columns [n0, n0 + columns) (at most 16; missing ones zero) x k [k0 + kk, k0 + kk
// + length) (length <= kDecodeStep, a multiple of 16) by k pairs: by_pairs[j] holds k pairs 4j ..
// 4j + 3 of every column, one byte each, column c in dword lane c. Each column's 64 code bytes
// are one vector and a 16 x 16 dword transpose turns them into these vectors: transposing the
// codes moves a quarter of the bytes that transposing the decoded BF16 would.
template <bool kOneLine = false>
void CodePairs(const WeightsView& b, int64_t n0, int columns, int64_t k0, int64_t kk,
               int64_t length, __m512i by_pairs[16]) {
  const int64_t code_row = b.k / 2;
  __m512i by_column[16];
  for (int c = 0; c < 16; ++c) {
    if (c >= columns) {
      by_column[c] = _mm512_setzero_si512();
      continue;
    }
    const uint8_t* codes = kOneLine ? b.codes : b.codes + (n0 + c) * code_row + (k0 + kk) / 2;
    by_column[c] =
        length == kDecodeStep ? _mm512_loadu_si512(codes) : LoadPrefix(codes, length / 2);
  }
  TransposeDwords(by_column, by_pairs);
}

// B row 4j + q of a step (k pair 4j + q of every column) as word indices: each lane's code of
// k 2(4j + q) in its low word and of the next k in its high word, each in the word's low 4 bits
// (bit 4, the next nibble's, is left: tables for vpermw are given twice). One byte multishift
// (bits 8q, 8q + 4 of each dword).
__m512i RowCodeWords(__m512i pairs, int q) {
  const uint64_t even = 8 * q, odd = 8 * q + 4;
  const uint64_t shifts = even | odd << 16 | (even + 32) << 32 | (odd + 32) << 48;
  return _mm512_multishift_epi64_epi8(_mm512_set1_epi64(static_cast<int64_t>(shifts)), pairs);
}

// Rows [8 group, 8 group + 8) of a decode step (its k [16 group, 16 group + 16)) from the
// step's codes by k pairs (CodePairs) and `scales` (stepped to it): byte q of every lane, its
// nibbles looked up as floats (vpermps reads the low 4 bits of an index) and multiplied by the
// column's scale, is a B row.
template <typename F>
[[gnu::always_inline]] inline void DecodeRowGroup(const __m512i (&by_pairs)[16],
                                                  const typename F::Scales& scales, int group,
                                                  uint16_t (*rows)[32]) {
  if constexpr (F::kExponentAdd) {
    if (scales.ExponentsInRange()) {
      // Each code looked up as BF16 and the scale's exponent added to its exponent field (a
      // zero's sign and zero kept): 4 instructions per 32 weights where float products take 8.
      const __m512i values = F::Bf16Values();
      const __m512i exponents = scales.ExponentBlock(group);
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) {  // row 8 group + r
        const __m512i codes = RowCodeWords(by_pairs[2 * group + r / 4], r % 4);
        const __m512i weights = _mm512_permutexvar_epi16(codes, values);
        const __mmask32 nonzero = _mm512_test_epi16_mask(codes, _mm512_set1_epi16(7));
        _mm512_store_si512(rows[8 * group + r], MaskAddWords(weights, nonzero, exponents));
      }
      return;
    }
  }
  if constexpr (F::kHalfProducts) {
    // Each code looked up as FP16 and multiplied by the scale: 32 weights per multiply where
    // floats give 16.
    const __m512i values = F::HalfValues();
    const __m512i scale = scales.HalfBlock(group);
#pragma GCC unroll 8
    for (int r = 0; r < 8; ++r) {  // row 8 group + r
      const __m512i codes = RowCodeWords(by_pairs[2 * group + r / 4], r % 4);
      _mm512_store_si512(rows[8 * group + r],
                         HalvesToBf16(MultiplyHalves(_mm512_permutexvar_epi16(codes, values),
                                                     scale)));
    }
    return;
  }
  const __m512 values = F::Values();
  for (int j = 2 * group; j < 2 * group + 2; ++j) {
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

// The same decode without the scales: each code's own value as BF16 (F::Bf16Values(), exact for
// E2M1), one word lookup per B row, for kernels that scale the block sums instead.
template <typename F>
void DecodeCodeValuesStep(const WeightsView& b, int64_t n0, int columns, int64_t k0, int64_t kk,
                          int64_t length, uint16_t (*rows)[32]) {
  const __m512i values = F::Bf16Values();
  __m512i by_pairs[16];
  CodePairs(b, n0, columns, k0, kk, length, by_pairs);
  for (int j = 0; j < length / 8; ++j) {
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
      _mm512_store_si512(rows[4 * j + q],
                         _mm512_permutexvar_epi16(RowCodeWords(by_pairs[j], q), values));
    }
  }
}

// The decode steps of one tile (columns [n0, n0 + columns), at most 16; missing ones zero) over
// one k block [k0, k0 + kc), each into the rows it is given (length / 2 VNNI rows for k
// [k0 + kk, k0 + kk + length), length <= kDecodeStep a multiple of 16): whole, or in parts (the
// codes and scales, then 8 rows at a time) that a driver spreads between its tile products.
template <typename F, bool kOmitted = DriverOmits<F>::kDecode>
class TileDecoder {
 public:
  TileDecoder(const WeightsView& b, int64_t n0, int columns, int64_t k0, int64_t kc)
      : b_(b), n0_(n0), columns_(columns), k0_(k0), scales_(b, n0, columns, k0, kc) {}

  // Whole, its codes in registers.
  void Decode(int64_t kk, int64_t length, uint16_t (*rows)[32]) {
    scales_.Step(kk, length);
    __m512i by_pairs[16];
    CodePairs(b_, n0_, columns_, k0_, kk, length, by_pairs);
    for (int group = 0; group < length / 16; ++group) {
      DecodeRowGroup<F>(by_pairs, scales_, group, rows);
    }
  }

  // The step's scales and codes.
  void Begin(int64_t kk, int64_t length, uint16_t (*rows)[32]) {
    scales_.Step(kk, length);
    CodePairs<DriverOmits<F>::kCodeGather>(b_, n0_, columns_, k0_, kk, length, by_pairs_);
    rows_ = rows;
    groups_ = static_cast<int>(length / 16);
    group_ = 0;
  }

  // The step's next 8 rows; whether any are left after them.
  bool DecodeRows() {
    DecodeRowGroup<F>(by_pairs_, scales_, group_, rows_);
    return ++group_ < groups_;
  }

  // The parts of the step begun last that are done (Begin's included).
  int PartsDone() const { return 1 + group_; }

 private:
  const WeightsView& b_;
  int64_t n0_;
  int columns_;
  int64_t k0_;
  typename F::Scales scales_;
  __m512i by_pairs_[16];
  uint16_t (*rows_)[32] = nullptr;
  int groups_ = 0, group_ = 0;
};

// The ceilings' decoder, which leaves the rows as they are.
template <typename F>
class TileDecoder<F, true> {
 public:
  TileDecoder(const WeightsView&, int64_t, int, int64_t, int64_t) {}
  void Decode(int64_t, int64_t, uint16_t (*)[32]) {}
};

// Decodes columns [n0, n0 + columns) x k [k0, k0 + kc) into a panel's first `tiles` tiles
// (missing columns zero) one part at a time (TileDecoder: a tile's decode step is a part for
// its codes and scales and one per 8 B rows), so that the next panel's decode runs between the
// tile products of this one and the vector work overlaps the tile unit's. A whole step is
// about 800 instructions, more than the core's out-of-order window; in parts the DeepSeek-V3
// layer at qlen 4096 ran 7 to 8% faster on a quiet Xeon host, both formats, and faster in 11
// of 12 medians on a noisy one (docs/performance-log.md). At m = 128 the decode still does not
// overlap the tile work (benchmarks' w4a16_no_products against w4a16_no_decode).
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
    begun_ = false;
    if (tiles_ > 0) StartTile();
  }

  // The parts not done yet.
  int64_t PartsLeft() const {
    if (tile_ >= tiles_) return 0;
    const auto parts = [](int64_t k) { return (k + kDecodeStep - 1) / kDecodeStep + k / 16; };
    return (tiles_ - tile_ - 1) * parts(kc_) + parts(kc_ - kk_) -
           (begun_ ? tile_decoder_->PartsDone() : 0);
  }

  void NextPart() {
    if (tile_ >= tiles_) return;
    if (!begun_) {
      const int64_t length = kc_ - kk_ < kDecodeStep ? kc_ - kk_ : kDecodeStep;
      tile_decoder_->Begin(kk_, length, (*panel_)[tile_] + kk_ / 2);
      begun_ = true;
      return;
    }
    if (tile_decoder_->DecodeRows()) return;
    begun_ = false;
    kk_ += kDecodeStep;
    if (kk_ < kc_) return;
    kk_ = 0;
    if (++tile_ < tiles_) StartTile();
  }

  void Finish() {
    while (tile_ < tiles_) NextPart();
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
  bool begun_ = false;  // the step at kk_ of tile_
  Panel* panel_ = nullptr;
  std::optional<TileDecoder<F>> tile_decoder_;
};

// The ceilings' decoder, which leaves the panels as they are.
template <typename F>
class PanelDecoder<F, true> {
 public:
  void Start(const WeightsView&, int64_t, int, int, int64_t, int64_t, Panel&) {}
  int64_t PartsLeft() const { return 0; }
  void NextPart() {}
  void Finish() {}
};

// Spreads the parts left of a panel's decode evenly over `steps` calls of Step.
template <typename F>
class InterleavedDecode {
 public:
  InterleavedDecode(PanelDecoder<F>& decoder, int64_t steps)
      : decoder_(decoder), parts_(decoder.PartsLeft()), steps_(steps > 0 ? steps : 1) {}

  void Step() {
    for (owed_ += parts_; owed_ >= steps_; owed_ -= steps_) decoder_.NextPart();
  }

 private:
  PanelDecoder<F>& decoder_;
  int64_t parts_, steps_, owed_ = 0;
};

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_W4A16_AMX_DECODE_H_
