#ifndef FP4MOE_KERNELS_BUFFERS_H_
#define FP4MOE_KERNELS_BUFFERS_H_

// The three buffers of a GEMM C[m, n] = A[m, k] * B[n, k]^T, in the vocabulary of the
// kt-kernel NVFP4 design: BufferA holds activations quantized for a path, BufferB packed 4-bit
// weights, BufferC float32 results.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/aligned_buffer.h"
#include "kernels/microkernel.h"
#include "quant/format.h"
#include "quant/fp4_float_scale.h"
#include "quant/int4_k2.h"
#include "quant/matrix.h"
#include "quant/mxfp4.h"
#include "quant/nvfp4.h"

namespace fp4moe::kernels {

// The block of K every E2M1 kernel walks: NVFP4's and the float-scale format's scale block;
// MXFP4's per-32 scale is stored once per 16.
inline constexpr int64_t kE2M1Block = 16;

// Packed weights. Layout (what every microkernel streams): one 64-byte-aligned array of 4-bit
// codes, row n's K/2 bytes contiguous (element 2j in the low nibble), so that a GEMV reads each
// row front to back; and one array of block scales, row n's K/block scales contiguous. E2M1
// formats share the codes and differ only in the scale kind; MXFP4's per-32 E8M0 scale is
// stored once per 16 so that every E2M1 kernel walks blocks of 16.
class BufferB {
 public:
  static absl::StatusOr<BufferB> FromNvfp4(std::string_view name, const Nvfp4Tensor& t);
  static absl::StatusOr<BufferB> FromFp4FloatScale(std::string_view name,
                                                   const Fp4FloatScaleTensor& t);
  static absl::StatusOr<BufferB> FromMxfp4(std::string_view name, const Mxfp4Tensor& t);
  static absl::StatusOr<BufferB> FromInt4K2(std::string_view name, const Int4K2Tensor& t);
  // Pre-quantized NVFP4 bytes as a checkpoint stores them (codes [n, k/2], E4M3 scales
  // [n, k/16], scale_2): the `from_raw_mat` of the kt-kernel design. Sizes and NaN scales
  // are checked.
  static absl::StatusOr<BufferB> FromRawNvfp4(std::string_view name, int64_t n, int64_t k,
                                              const uint8_t* codes, const uint8_t* scales,
                                              float scale_2);
  // Quantizes float weights [n, k] to `format` (group_size applies to INT4 K2) and packs them.
  static absl::StatusOr<BufferB> Quantize(std::string_view name, ConstRowMatrixRef w,
                                          WeightFormat format, int64_t group_size = 32);

  WeightFormat format() const { return format_; }
  int64_t n() const { return view_.n; }
  int64_t k() const { return view_.k; }
  int64_t block() const { return view_.block; }
  const WeightsView& view() const { return view_; }
  // Bytes a kernel streams for the whole matrix (codes and scales).
  int64_t streamed_bytes() const;
  // Bytes the buffer holds: its codes and scales, and their row blocks where it keeps them.
  int64_t resident_bytes() const;
  // The weights as floats (what the Eigen reference multiplies).
  RowMatrixXf Dequantize() const;
  // A copy in its own memory (benchmarks rotate copies to stream weights from DRAM).
  BufferB Clone() const;
  // A copy that also keeps the weights by row blocks (WeightsView::row_block_codes) where its
  // format and k allow them, for the kernels that read them (Microkernel::reads_row_blocks).
  BufferB WithRowBlocks() const;
  // Whether WithRowBlocks would add row blocks: the format and k allow them and the buffer does
  // not keep them yet (else it only copies).
  bool CanAddRowBlocks() const;

 private:
  BufferB(WeightFormat format, int64_t n, int64_t k, int64_t block, ScaleKind kind,
          float tensor_scale);

  WeightFormat format_;
  AlignedBuffer codes_;
  AlignedBuffer scales_;
  AlignedBuffer row_block_codes_;   // empty where the buffer keeps no row blocks
  AlignedBuffer row_block_scales_;
  WeightsView view_;
};

// Rows [begin, begin + count) of a buffer: one GEMM's share of buffers that several GEMMs fill
// and read at once (an MoE layer's experts, each on its own rows of one arena).
struct RowRange {
  int64_t begin = 0;
  int64_t count = 0;
  int64_t end() const { return begin + count; }
  // Whether the range lies in a buffer of max_m rows (checked without overflow, whatever the
  // values).
  bool Within(int64_t max_m) const {
    return begin >= 0 && count >= 0 && begin <= max_m - count;
  }
};

// Activations for one GEMM path, sized once for up to max_m rows (no allocation per call):
// int8 with one scale per row per weight block (W4A8), NVFP4 (W4A4) or BF16 (W4A16).
class BufferA {
 public:
  // `group` is the weight block (16 for E2M1 formats, G for INT4 K2); k must be a multiple.
  // `tile_order` (BF16 paths, k a multiple of 16; see ReadsTileOrder in kernels/gemm.h): each
  // Set also writes its rows in the AMX kernels' tile order (Bf16ActivationsView), once for
  // every thread and column slice that multiplies them. `column_windows` with it (E2M1 path, k
  // a multiple of 64; see ReadsColumnWindows): a Set of at most kColumnWindowMaxRows rows
  // writes its column windows too.
  static absl::StatusOr<BufferA> Create(GemmPath path, int64_t max_m, int64_t k, int64_t group,
                                        bool tile_order = false, bool column_windows = false);
  // The bytes such a buffer allocates (to size a workspace before allocating it).
  static int64_t Bytes(GemmPath path, int64_t max_m, int64_t k, int64_t group,
                       bool tile_order = false, bool column_windows = false);

  // Quantizes x [m, k] for the path into rows [row0, row0 + m), allocating nothing and
  // touching no other row, so that threads may fill disjoint ranges at once. W4A4's tensor
  // scale comes from these rows alone and is kept for them. NaN/Inf, a wrong shape or rows
  // outside the buffer are errors; all-zero rows or activations are not (they give zeros).
  absl::Status Set(std::string_view name, ConstRowMatrixRef x, int64_t row0 = 0);
  // The same from BF16 rows [m, k].
  absl::Status SetBf16(std::string_view name, const uint16_t* x, int64_t m, int64_t row0 = 0);
  // The same from rows gathered out of `x` (row stride k): row r of the Set is row rows[r] of x,
  // converted where it lies (the layer's token rows, without copying them together first).
  absl::Status SetRows(std::string_view name, const float* x, absl::Span<const int64_t> rows,
                       int64_t row0);
  // The same from BF16 rows gathered out of `x` (row stride k). kCheckedByCaller: the BF16
  // paths copy the rows without checking them for NaN/Inf, which the caller has done (the
  // layer checks its whole input once per call, and gathers each token's row top-k times).
  enum class Check { kValues, kCheckedByCaller };
  absl::Status SetBf16Rows(std::string_view name, const uint16_t* x,
                           absl::Span<const int64_t> rows, int64_t row0,
                           Check check = Check::kValues);

  GemmPath path() const { return path_; }
  int64_t max_m() const { return max_m_; }
  int64_t k() const { return k_; }
  int64_t group() const { return group_; }
  // Fills the activation view and m of `args` for `rows`, which must lie in the buffer; the
  // tile order too where the buffer keeps it and `rows` are exactly the rows of one Set (its
  // blocks start at the Set's first row). InvalidArgument where W4A4 rows were quantized with
  // different tensor scales (by different Sets): a kernel takes one per product.
  absl::Status FillArgs(RowRange rows, GemmArgs& args) const;
  // Rows [0, m) (m <= max_m) as the kernels see them, as floats (for references).
  RowMatrixXf Dequantize(int64_t m) const;

 private:
  BufferA(GemmPath path, int64_t max_m, int64_t k, int64_t group, bool tile_order,
          bool column_windows);
  // SetBf16 and SetBf16Rows once their rows fit: row r of the Set is row row_indices[r] of x,
  // or row r where row_indices is null.
  absl::Status SetBf16Gathered(std::string_view name, const uint16_t* x, int64_t m,
                               const int64_t* row_indices, int64_t row0, Check check);
  // Writes rows [row0, row0 + m) of the tile order from their BF16 values, where kept, and of
  // the column windows, where kept and m <= kColumnWindowMaxRows.
  void SetTiles(int64_t row0, int64_t m);
  void SetColumnWindows(int64_t row0, int64_t m);
  // Where the column windows start in the tile order's allocation (after the tile order).
  int64_t ColumnWindowsOffset() const;

  GemmPath path_;
  int64_t max_m_, k_, group_;
  bool column_windows_;  // the tile order's allocation also holds column windows
  AlignedBuffer values_;  // int8, packed E2M1 codes, or BF16
  AlignedBuffer scales_;  // float per row per group, or E4M3 per 16
  // W4A4: float per row, the tensor scale of the Set that wrote the row.
  AlignedBuffer tensor_scales_;
  AlignedBuffer staging_;  // float rows, for BF16 input on the quantizing paths
  // Tile order (BF16 paths created with it): the values again, and per row the RowRange of the
  // Set that wrote it.
  AlignedBuffer tiles_;
  AlignedBuffer tile_sets_;
};

// Where a GEMM writes its float32 results: rows [0, rows) of product columns [first_column,
// end_column), product (r, c) at origin[r * ld + c]. A window that stores only its columns
// (the MoE operator's down bands) has origin first_column floats before its first one: its
// owner allocates at least that much before it, so that every address formed stays inside.
struct OutputWindow {
  float* origin = nullptr;
  int64_t ld = 0;
  int64_t rows = 0;
  int64_t first_column = 0, end_column = 0;
};

// Float32 results [max_m, n], row-major.
class BufferC {
 public:
  BufferC(int64_t max_m, int64_t n);
  // The bytes such a buffer allocates.
  static int64_t Bytes(int64_t max_m, int64_t n) { return max_m * n * int64_t{sizeof(float)}; }
  float* data() { return reinterpret_cast<float*>(data_.data()); }
  const float* data() const { return reinterpret_cast<const float*>(data_.data()); }
  int64_t max_m() const { return max_m_; }
  int64_t n() const { return n_; }
  // Rows [0, m) as a matrix.
  RowMatrixXf ToMatrix(int64_t m) const;
  // All of it, as a GEMM's output.
  OutputWindow Window() { return {data(), n_, max_m_, 0, n_}; }

 private:
  int64_t max_m_, n_;
  AlignedBuffer data_;
};

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_BUFFERS_H_
