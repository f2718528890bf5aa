// E2M1 weights x E2M1 activations, AVX2, tiles of 4 rows of A x 2 columns of B. AVX2 has no
// 64-entry byte lookup, so the product table is taken in two levels: vpshufb reads each code's
// 2 x value from a 16-entry table (sign and magnitude), and vpmaddubsw multiplies |activation|
// by the weight carrying the activation's sign (vpsignb), which gives exactly the scalar
// reference's products x4. Per 128 elements of a row pair one int32 lane holds one 16-element
// block, scaled by both block scales into a float lane; the 8 lanes are summed once per output.
#include <cstdint>
#include <cstring>

#include "kernels/avx2_helpers.h"
#include "kernels/microkernel.h"
#include "kernels/microkernels.h"
#include "kernels/simd.h"

namespace fp4moe::kernels {
namespace {

constexpr int kTileRows = 4;
constexpr int kTileCols = 2;
constexpr int64_t kBlock = 16;
constexpr int64_t kChunk = 128;  // elements per step: 8 blocks, one int32 lane per block
constexpr int64_t kChunkBytes = kChunk / 2;
constexpr int64_t kChunkBlocks = kChunk / kBlock;

__m256i TableOf(int8_t e0, int8_t e1, int8_t e2, int8_t e3, int8_t e4, int8_t e5, int8_t e6,
                int8_t e7, int8_t e8, int8_t e9, int8_t e10, int8_t e11, int8_t e12,
                int8_t e13, int8_t e14, int8_t e15) {
  return _mm256_setr_epi8(e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12, e13, e14, e15,
                          e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12, e13, e14, e15);
}

// 2 x the E2M1 value of a 4-bit code, and its magnitude.
__m256i DoubledValueTable() {
  return TableOf(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
}
__m256i DoubledMagnitudeTable() {
  return TableOf(0, 1, 2, 3, 4, 6, 8, 12, 0, 1, 2, 3, 4, 6, 8, 12);
}

// 8 block scales in the lane order of LoadBlockHalves.
__m256 WeightScales(ScaleKind kind, const uint8_t* scales) {
  __m256 natural;
  switch (kind) {
    case ScaleKind::kE8M0:
      natural = DecodeE8M0(WidenBytes(scales));
      break;
    case ScaleKind::kFloat32:
      natural = _mm256_loadu_ps(reinterpret_cast<const float*>(scales));
      break;
    default:
      natural = DecodeE4M3(WidenBytes(scales));
  }
  return _mm256_permutevar8x32_ps(natural, LaneBlocks());
}

__m256 ActivationScales(const uint8_t* scales) {
  return _mm256_permutevar8x32_ps(DecodeE4M3(WidenBytes(scales)), LaneBlocks());
}

int64_t WeightScaleBytes(ScaleKind kind) { return kind == ScaleKind::kFloat32 ? 4 : 1; }

// Per block half and nibble: 2 x the value of each code (signed) or its magnitude (unsigned).
struct DecodedCodes {
  __m256i value[2][2];
};

void Decode(const uint8_t* codes, const __m256i table, DecodedCodes& out) {
  __m256i halves[2];
  LoadBlockHalves(codes, halves[0], halves[1]);
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  for (int h = 0; h < 2; ++h) {
    out.value[h][0] = _mm256_shuffle_epi8(table, _mm256_and_si256(halves[h], nibble));
    out.value[h][1] =
        _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(halves[h], 4), nibble));
  }
}

struct PreparedRow {
  DecodedCodes value;
  DecodedCodes magnitude;
  __m256 scale;
};

template <int Rows, int Cols>
struct ChunkOperands {
  const uint8_t* a_codes[Rows];
  const uint8_t* a_scales[Rows];
  const uint8_t* b_codes[Cols];
  const uint8_t* b_scales[Cols];
};

template <int Rows, int Cols>
void MultiplyChunk(const ChunkOperands<Rows, Cols>& in, ScaleKind kind,
                   __m256 (&acc)[Rows][Cols]) {
  const __m256i values = DoubledValueTable();
  const __m256i magnitudes = DoubledMagnitudeTable();
  PreparedRow rows[Rows];
  for (int i = 0; i < Rows; ++i) {
    Decode(in.a_codes[i], values, rows[i].value);
    Decode(in.a_codes[i], magnitudes, rows[i].magnitude);
    rows[i].scale = ActivationScales(in.a_scales[i]);
  }
  const __m256i ones = _mm256_set1_epi16(1);
  for (int j = 0; j < Cols; ++j) {
    DecodedCodes w;
    Decode(in.b_codes[j], values, w);
    const __m256 b_scale = WeightScales(kind, in.b_scales[j]);
    for (int i = 0; i < Rows; ++i) {
      // int16 lanes: at most 4 x 2 x 144, far from saturation.
      __m256i pair_sums = _mm256_setzero_si256();
      for (int h = 0; h < 2; ++h) {
        for (int nib = 0; nib < 2; ++nib) {
          const __m256i signed_w = _mm256_sign_epi8(w.value[h][nib], rows[i].value.value[h][nib]);
          pair_sums = _mm256_add_epi16(
              pair_sums, _mm256_maddubs_epi16(rows[i].magnitude.value[h][nib], signed_w));
        }
      }
      const __m256 block_sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pair_sums, ones));
      acc[i][j] = _mm256_fmadd_ps(block_sums, _mm256_mul_ps(b_scale, rows[i].scale), acc[i][j]);
    }
  }
}

template <int Rows, int Cols>
void MultiplyTile(const GemmArgs& args, int64_t row0, int64_t col0) {
  const WeightsView& b = args.b;
  const int64_t row_bytes = b.k / 2;
  const int64_t blocks = b.k / kBlock;
  const int64_t b_scale_bytes = WeightScaleBytes(b.scale_kind);
  __m256 acc[Rows][Cols];
  for (int i = 0; i < Rows; ++i) {
    for (int j = 0; j < Cols; ++j) acc[i][j] = _mm256_setzero_ps();
  }
  ChunkOperands<Rows, Cols> in;
  const int64_t full_chunks = b.k / kChunk;
  for (int64_t c = 0; c < full_chunks; ++c) {
    for (int i = 0; i < Rows; ++i) {
      in.a_codes[i] = args.a_fp4.codes + (row0 + i) * row_bytes + c * kChunkBytes;
      in.a_scales[i] = args.a_fp4.scales + (row0 + i) * blocks + c * kChunkBlocks;
    }
    for (int j = 0; j < Cols; ++j) {
      in.b_codes[j] = b.codes + (col0 + j) * row_bytes + c * kChunkBytes;
      in.b_scales[j] = b.scales + ((col0 + j) * blocks + c * kChunkBlocks) * b_scale_bytes;
    }
    MultiplyChunk(in, b.scale_kind, acc);
  }
  if (const int64_t tail_blocks = blocks - full_chunks * kChunkBlocks; tail_blocks > 0) {
    // The last partial chunk, copied into zero padding: zero codes have zero products and zero
    // scales keep the padding's lanes at zero.
    alignas(32) uint8_t a_codes[Rows][kChunkBytes] = {};
    alignas(32) uint8_t a_scales[Rows][kChunkBlocks] = {};
    alignas(32) uint8_t b_codes[Cols][kChunkBytes] = {};
    alignas(32) uint8_t b_scales[Cols][kChunkBlocks * 4] = {};
    const int64_t tail_bytes = tail_blocks * kBlock / 2;
    const int64_t offset = full_chunks * kChunkBytes;
    const int64_t block_offset = full_chunks * kChunkBlocks;
    for (int i = 0; i < Rows; ++i) {
      std::memcpy(a_codes[i], args.a_fp4.codes + (row0 + i) * row_bytes + offset, tail_bytes);
      std::memcpy(a_scales[i], args.a_fp4.scales + (row0 + i) * blocks + block_offset,
                  tail_blocks);
      in.a_codes[i] = a_codes[i];
      in.a_scales[i] = a_scales[i];
    }
    for (int j = 0; j < Cols; ++j) {
      std::memcpy(b_codes[j], b.codes + (col0 + j) * row_bytes + offset, tail_bytes);
      std::memcpy(b_scales[j], b.scales + ((col0 + j) * blocks + block_offset) * b_scale_bytes,
                  tail_blocks * b_scale_bytes);
      in.b_codes[j] = b_codes[j];
      in.b_scales[j] = b_scales[j];
    }
    MultiplyChunk(in, b.scale_kind, acc);
  }
  const float output_scale = 0.25f * b.tensor_scale * args.a_fp4.tensor_scale;
  for (int i = 0; i < Rows; ++i) {
    for (int j = 0; j < Cols; ++j) {
      args.c[(row0 + i) * args.ldc + col0 + j] = SumLanes(acc[i][j]) * output_scale;
    }
  }
}

using TileFunction = void (*)(const GemmArgs&, int64_t, int64_t);

// [rows - 1][cols - 1]: full tiles and the remainders at the edges of m and n.
constexpr TileFunction kTiles[kTileRows][kTileCols] = {
    {MultiplyTile<1, 1>, MultiplyTile<1, 2>},
    {MultiplyTile<2, 1>, MultiplyTile<2, 2>},
    {MultiplyTile<3, 1>, MultiplyTile<3, 2>},
    {MultiplyTile<4, 1>, MultiplyTile<4, 2>},
};

}  // namespace

void fp4_w4a4_lut_4x2_avx2(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  // Columns outer: a tile's columns of B stay in L1 while every row tile of A passes by.
  for (int64_t col0 = n_begin; col0 < n_end; col0 += kTileCols) {
    const int64_t cols = n_end - col0 < kTileCols ? n_end - col0 : kTileCols;
    for (int64_t row0 = 0; row0 < args.m; row0 += kTileRows) {
      const int64_t rows = args.m - row0 < kTileRows ? args.m - row0 : kTileRows;
      kTiles[rows - 1][cols - 1](args, row0, col0);
    }
  }
}

}  // namespace fp4moe::kernels
