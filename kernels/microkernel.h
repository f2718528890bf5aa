#ifndef FP4MOE_KERNELS_MICROKERNEL_H_
#define FP4MOE_KERNELS_MICROKERNEL_H_

// The contract between BufferA/BufferB/BufferC and the GEMM microkernels. Plain structs and
// declarations only: this header is included by files compiled with different ISA flags, and
// an inline function here would be emitted once per ISA (see kernels/BUILD on the ODR trap).

#include <cstdint>

namespace fp4moe::kernels {

// Instruction-set level a microkernel needs.
enum class Isa : uint8_t {
  kScalar,  // plain C++
  kAvx2,    // AVX2 + FMA + F16C
  kAvx512,  // AVX-512 F/BW/VL/VBMI/VNNI/BF16
  kAmx,     // kAvx512 plus AMX TILE/INT8/BF16
};

// Which product a microkernel computes.
enum class GemmPath : uint8_t {
  kFp4W4A4Lut,  // E2M1 weights x E2M1 (NVFP4-quantized) activations, products by table lookup
  kFp4W4A8,     // E2M1 weights decoded to int8 (2 x value) x int8 activations
  kFp4W4A16,    // E2M1 weights decoded with their scales to BF16 x BF16 activations
  kInt4W4A8,    // INT4 K2 weights x int8 activations
  kInt4W4A16,   // INT4 K2 weights decoded with their group scales to BF16 x BF16 activations
};

// How a weight block's scale is stored.
enum class ScaleKind : uint8_t {
  kE4M3,     // 1 byte (NVFP4)
  kE8M0,     // 1 byte (MXFP4)
  kFloat32,  // 4 bytes (the FP4 float-scale variant)
  kBf16,     // 2 bytes (INT4 K2)
};

// Packed weights B [n, k], as BufferB holds them: row n's 4-bit codes at
// codes + n * k / 2 (element 2j in the low nibble; E2M1 codes, or int4 two's complement),
// row n's block scales at scales + n * (k / block) * bytes_of(scale_kind).
// Element value = decode(code) * scale[n][k / block] * tensor_scale.
struct WeightsView {
  int64_t n = 0;
  int64_t k = 0;
  int64_t block = 0;  // 16 for every E2M1 format (MXFP4's 32 is stored twice), G for INT4
  ScaleKind scale_kind = ScaleKind::kE4M3;
  const uint8_t* codes = nullptr;
  const uint8_t* scales = nullptr;
  float tensor_scale = 1.0f;
  // The same codes and one-byte scales again by row blocks, where the buffer keeps them
  // (BufferB::WithRowBlocks: E2M1 formats with E4M3 or E8M0 scales, k a multiple of
  // kColumnWindowK): block r (rows [kRowBlockRows r, kRowBlockRows (r + 1)), the last one's rows
  // past n zero) and window w (k [64w, 64w + 64)) hold the rows' 32 code bytes, row after row,
  // at row_block_codes + (r * k / 64 + w) * kRowBlockRows * 32, and their 4 scale bytes at
  // row_block_scales + (r * k / 64 + w) * kRowBlockRows * 4: one stream per block where the
  // rows give two per row (Microkernel::reads_row_blocks).
  const uint8_t* row_block_codes = nullptr;
  const uint8_t* row_block_scales = nullptr;
};

inline constexpr int64_t kRowBlockRows = 32;

// Activations A [m, k] quantized to int8 with one float scale per row per `group` elements
// (group == the weight block): value = values[i][j] * scales[i][j / group].
struct Int8ActivationsView {
  const int8_t* values = nullptr;  // [m, k]
  const float* scales = nullptr;   // [m, k / group]
  int64_t group = 0;
};

// Activations A [m, k] quantized to NVFP4 (W4A4): E2M1 codes two per byte, E4M3 scale per 16,
// one float tensor scale.
struct Fp4ActivationsView {
  const uint8_t* codes = nullptr;   // [m, k / 2]
  const uint8_t* scales = nullptr;  // [m, k / 16], E4M3
  float tensor_scale = 1.0f;
};

// Rows of A per block of the W4A16 AMX kernels (two 16-row tiles).
constexpr int64_t kTileBlockRows = 32;

// Activations A [m, k] in BF16, raw 16-bit values; and, where the buffer keeps them, the same
// rows in tile order, so that the AMX kernels load their tiles from them with no packing of
// their own: blocks of kTileBlockRows rows from row 0 (the last one shorter, with `rows` rows),
// each holding its rows' first k step (32 elements; 16 where k is an odd multiple of 16), then
// their second, and so on. Element l of row i of a block starting at row r0 is at
// tiles[r0 * k + (l / step) * rows * step + i * step + l % step]: the same size as `values`,
// and a 32-row tile load of the last block, which reads up to 31 rows of a step past it,
// stays within the buffer (those rows' products are not kept).
//
// Where m <= kColumnWindowMaxRows and k is a multiple of kColumnWindowK, the buffer also keeps
// the rows as the tiles' second operand for the kernels that multiply weights as the first
// (kernels/e2m1_w4a16_amx_tables.h): `windows`, window w (k [64w, 64w + 64)) at windows + w *
// 64 * m, as two blocks of 16 k pairs x m dwords (4m bytes a row): the first holds k 4r and 4r
// + 2 of the window in its row r, the second 4r + 1 and 4r + 3, each pair in the dword of its
// row of A.
inline constexpr int64_t kColumnWindowMaxRows = 16;
inline constexpr int64_t kColumnWindowK = 64;

struct Bf16ActivationsView {
  const uint16_t* values = nullptr;   // [m, k]
  const uint16_t* tiles = nullptr;    // null where the buffer keeps no tile order for the rows
  const uint16_t* windows = nullptr;  // null where it keeps no column windows for them
};

// C[i][j] = sum_l A[i][l] * B[j][l] for rows i < m and the columns j in [n_begin, n_end) a
// call is given; C row-major with leading dimension ldc. Only the activation view of the
// kernel's path is set.
struct GemmArgs {
  int64_t m = 0;
  WeightsView b;
  Int8ActivationsView a_int8;
  Fp4ActivationsView a_fp4;
  Bf16ActivationsView a_bf16;
  float* c = nullptr;
  int64_t ldc = 0;
};

using GemmFunction = void (*)(const GemmArgs& args, int64_t n_begin, int64_t n_end);

// Rows up to which the scaled-sums kernels (kernels/w4a16_amx_sums_driver.h: one tile of rows)
// run their own driver; their table entries' unrounded_max_m.
inline constexpr int64_t kScaledSumsMaxRows = 16;

struct Microkernel {
  const char* name;  // format, activation type, tile and ISA, e.g. "fp4_w4a8_4x16_avx512"
  GemmPath path;
  Isa isa;        // what the kernel's code uses
  bool emulated;  // this copy runs the same code through SIMDe / our AMX tile emulation
  GemmFunction function;
  // The fewest rows of A for which the kernel is worth choosing: tiles do not pay for a GEMV,
  // where a vector kernel streams the weights faster.
  int64_t min_m = 1;
  // A compared variant of its path's kernel of the same ISA (another decode or schedule):
  // microkernel_test checks it and gemm_benchmark runs it by name, but SelectMicrokernel never
  // picks it, so that one process can measure both ways.
  bool variant = false;
  // Products of at most this many rows, with scale blocks of a multiple of 16 k, multiply the
  // weights as dequantized (code x scale, unrounded) where the path rounds each to BF16: a
  // variant that scales block sums instead.
  int64_t unrounded_max_m = 0;
  // Products of at most kColumnWindowMaxRows rows read the activations as column windows
  // (Bf16ActivationsView) where the buffer keeps them; buffers made for the kernel keep them.
  bool reads_column_windows = false;
  // The kernel reads the weights by row blocks (WeightsView::row_block_codes) where the buffer
  // keeps them (the AMX variant for products of at most kColumnWindowMaxRows rows, the W4A8
  // one for any); buffers made for the kernel keep them.
  bool reads_row_blocks = false;
};

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_MICROKERNEL_H_
