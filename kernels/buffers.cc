// BufferA (activations quantized for a path, with the AMX kernels' tile order) and BufferC.
#include "kernels/buffers.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "kernels/activation_rows.h"
#include "kernels/block_scale.h"
#include "kernels/gemm.h"
#include "quant/bf16.h"
#include "quant/blockwise.h"
#include "quant/e2m1.h"
#include "quant/validate.h"

namespace fp4moe::kernels {

namespace {

// What BufferA allocates for a path: quantized values, their scales, W4A4's tensor scale per
// row, and float staging rows (for BF16 input on the quantizing paths).
struct ActivationBytes {
  int64_t values = 0, scales = 0, tensor_scales = 0, staging = 0, tiles = 0, tile_sets = 0;
};

// Whether a buffer of the path keeps the tile order when asked to.
bool KeepsTileOrder(GemmPath path, int64_t k, bool tile_order) {
  return tile_order && TakesBf16Activations(path) && k % 16 == 0;
}

// Whether a buffer keeping the tile order also keeps column windows for its Sets of at most
// kColumnWindowMaxRows rows (Bf16ActivationsView), when asked to: for the E2M1 kernel that
// reads them.
bool KeepsColumnWindows(GemmPath path, int64_t k, bool tile_order, bool column_windows) {
  return column_windows && KeepsTileOrder(path, k, tile_order) &&
         path == GemmPath::kFp4W4A16 && k % kColumnWindowK == 0;
}

// Rows [0, m) of `values` (k columns) in tile order: per block of kTileBlockRows rows, each
// step of kStep columns of every row together, written in that order (one sequential stream of
// writes). The step a constant so that each piece is a few vector moves: with a variable size
// every 32 or 64 bytes took a `rep movsq`. Both halved the time of a Set with the tile order
// (Zen 4, one thread, 4096 rows of 7168 in Sets of 128: 23.5 -> 11.0 ms).
template <int64_t kStep>
void WriteTileOrder(const Bf16* values, int64_t m, int64_t k, Bf16* tiles) {
  for (int64_t first = 0; first < m; first += kTileBlockRows) {
    const int64_t rows = std::min(kTileBlockRows, m - first);
    Bf16* block = tiles + first * k;
    const Bf16* block_values = values + first * k;
    for (int64_t l = 0; l < k; l += kStep) {
      for (int64_t i = 0; i < rows; ++i) {
        std::memcpy(block + l * rows + i * kStep, block_values + i * k + l, kStep * sizeof(Bf16));
      }
    }
  }
}

absl::Status RowsDoNotFit(std::string_view name, int64_t m, int64_t row0, int64_t max_m) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s: %d rows written from row %d do not fit a buffer of %d rows", name, m, row0, max_m));
}

// What a tile load of the last block reads past its rows: up to 31 rows of a 64-byte step.
// Column windows, where kept, follow.
constexpr int64_t kTileOverreadBytes = (kTileBlockRows - 1) * 64;

ActivationBytes ActivationBytesFor(GemmPath path, int64_t max_m, int64_t k, int64_t group,
                                   bool tile_order, bool column_windows) {
  const int64_t floats = max_m * k * int64_t{sizeof(float)};
  switch (path) {
    case GemmPath::kFp4W4A8:
    case GemmPath::kInt4W4A8:
      return {max_m * k, max_m * (k / group) * int64_t{sizeof(float)}, 0, floats};
    case GemmPath::kFp4W4A4Lut:
      return {max_m * k / 2, max_m * (k / kE2M1Block), max_m * int64_t{sizeof(float)}, floats};
    case GemmPath::kFp4W4A16:
    case GemmPath::kInt4W4A16: {
      const int64_t values = max_m * k * int64_t{sizeof(Bf16)};
      if (!KeepsTileOrder(path, k, tile_order)) return {values};
      const int64_t windows =
          KeepsColumnWindows(path, k, tile_order, column_windows) ? values : 0;
      return {values, 0, 0, 0, values + kTileOverreadBytes + windows,
              max_m * int64_t{sizeof(RowRange)}};
    }
  }
  return {};
}

}  // namespace

BufferA::BufferA(GemmPath path, int64_t max_m, int64_t k, int64_t group, bool tile_order,
                 bool column_windows)
    : path_(path),
      max_m_(max_m),
      k_(k),
      group_(group),
      column_windows_(KeepsColumnWindows(path, k, tile_order, column_windows)) {
  const ActivationBytes bytes =
      ActivationBytesFor(path, max_m, k, group, tile_order, column_windows);
  values_ = AlignedBuffer(bytes.values);
  if (bytes.scales > 0) scales_ = AlignedBuffer(bytes.scales);
  if (bytes.tensor_scales > 0) tensor_scales_ = AlignedBuffer(bytes.tensor_scales);
  if (bytes.staging > 0) staging_ = AlignedBuffer(bytes.staging);
  if (bytes.tiles > 0) tiles_ = AlignedBuffer(bytes.tiles);
  if (bytes.tile_sets > 0) tile_sets_ = AlignedBuffer(bytes.tile_sets);
}

int64_t BufferA::Bytes(GemmPath path, int64_t max_m, int64_t k, int64_t group,
                       bool tile_order, bool column_windows) {
  const ActivationBytes bytes =
      ActivationBytesFor(path, max_m, k, group, tile_order, column_windows);
  return bytes.values + bytes.scales + bytes.tensor_scales + bytes.staging + bytes.tiles +
         bytes.tile_sets;
}

absl::StatusOr<BufferA> BufferA::Create(GemmPath path, int64_t max_m, int64_t k, int64_t group,
                                        bool tile_order, bool column_windows) {
  if (max_m <= 0 || k <= 0 || group <= 0 || k % group != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "BufferA: max_m = %d, k = %d, group = %d: all must be positive and group must divide k",
        max_m, k, group));
  }
  if (path == GemmPath::kFp4W4A4Lut && k % kE2M1Block != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("BufferA: W4A4 needs k a multiple of 16, got %d", k));
  }
  return BufferA(path, max_m, k, group, tile_order, column_windows);
}

void BufferA::SetTiles(int64_t row0, int64_t m) {
  if (tiles_.size() == 0) return;
  const auto* values = reinterpret_cast<const Bf16*>(values_.data()) + row0 * k_;
  auto* tiles = reinterpret_cast<Bf16*>(tiles_.data()) + row0 * k_;
  // The AMX kernels' k step.
  if (k_ % 32 == 0) {
    WriteTileOrder<32>(values, m, k_, tiles);
  } else {
    WriteTileOrder<16>(values, m, k_, tiles);
  }
  auto* sets = reinterpret_cast<RowRange*>(tile_sets_.data());
  std::fill(sets + row0, sets + row0 + m, RowRange{row0, m});
  if (column_windows_ && m <= kColumnWindowMaxRows) SetColumnWindows(row0, m);
}

int64_t BufferA::ColumnWindowsOffset() const {
  return max_m_ * k_ * int64_t{sizeof(Bf16)} + kTileOverreadBytes;
}

void BufferA::SetColumnWindows(int64_t row0, int64_t m) {
  const auto* values = reinterpret_cast<const Bf16*>(values_.data()) + row0 * k_;
  // Bf16ActivationsView: per window, two tiles of 16 k pairs x m dwords.
  Bf16* windows = reinterpret_cast<Bf16*>(tiles_.data() + ColumnWindowsOffset()) + row0 * k_;
  for (int64_t w = 0; w < k_ / kColumnWindowK; ++w) {
    Bf16* window = windows + w * kColumnWindowK * m;
    for (int parity = 0; parity < 2; ++parity) {
      for (int64_t r = 0; r < 16; ++r) {
        Bf16* row = window + (parity * 16 + r) * 2 * m;
        for (int64_t j = 0; j < m; ++j) {
          const Bf16* k0 = values + j * k_ + w * kColumnWindowK + 4 * r + parity;
          row[2 * j] = k0[0];
          row[2 * j + 1] = k0[2];
        }
      }
    }
  }
}

absl::Status BufferA::Set(std::string_view name, ConstRowMatrixRef x, int64_t row0) {
  const RowRange rows{row0, x.rows()};
  if (!rows.Within(max_m_) || x.cols() != k_) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: activations [%d, %d] written from row %d do not fit a buffer of [%d, %d]", name,
        x.rows(), x.cols(), row0, max_m_, k_));
  }
  // The BF16 paths check their values on the rounded rows (RoundRowsToBf16Checked).
  if (absl::Status s = TakesBf16Activations(path_)
                           ? ValidateBlockShape(name, x.rows(), x.cols(), group_)
                           : ValidateQuantizable(name, x, group_);
      !s.ok()) {
    return s;
  }
  switch (path_) {
    case GemmPath::kFp4W4A8:
    case GemmPath::kInt4W4A8: {
      QuantizeInt8Rows({x.data(), rows.count, k_, x.outerStride()}, group_,
                       reinterpret_cast<int8_t*>(values_.data()) + row0 * k_,
                       reinterpret_cast<float*>(scales_.data()) + row0 * (k_ / group_));
      return absl::OkStatus();
    }
    case GemmPath::kFp4W4A4Lut: {
      // Dynamic NVFP4 quantization of the activations, the tensor scale from their amax,
      // straight into this buffer; all-zero activations quantize to zeros.
      absl::StatusOr<float> scale_2 = QuantizeNvfp4Into(
          name, x, absl::MakeSpan(values_.data() + row0 * k_ / 2, rows.count * k_ / 2),
          absl::MakeSpan(scales_.data() + row0 * (k_ / kE2M1Block),
                         rows.count * (k_ / kE2M1Block)));
      if (!scale_2.ok()) return scale_2.status();
      auto* tensor_scales = reinterpret_cast<float*>(tensor_scales_.data());
      std::fill(tensor_scales + rows.begin, tensor_scales + rows.end(), *scale_2);
      return absl::OkStatus();
    }
    case GemmPath::kFp4W4A16:
    case GemmPath::kInt4W4A16: {
      if (absl::Status s =
              RoundRowsToBf16Checked(name, {x.data(), rows.count, k_, x.outerStride()},
                                     reinterpret_cast<Bf16*>(values_.data()) + row0 * k_);
          !s.ok()) {
        return s;
      }
      SetTiles(row0, rows.count);
      return absl::OkStatus();
    }
  }
  return absl::InternalError("BufferA: unknown path");
}

absl::Status BufferA::SetRows(std::string_view name, const float* x,
                              absl::Span<const int64_t> rows, int64_t row0) {
  const int64_t m = static_cast<int64_t>(rows.size());
  if (m == 0 || !RowRange{row0, m}.Within(max_m_)) return RowsDoNotFit(name, m, row0, max_m_);
  const FloatRows gathered{x, m, k_, k_, rows.data()};
  if (path_ == GemmPath::kFp4W4A4Lut) {
    // Its quantizer takes a matrix: the rows go through the range's own staging rows, where
    // Set checks them.
    auto* staging = reinterpret_cast<float*>(staging_.data()) + row0 * k_;
    for (int64_t r = 0; r < m; ++r) {
      std::memcpy(staging + r * k_, gathered.Row(r), k_ * sizeof(float));
    }
    return Set(name, Eigen::Map<const RowMatrixXf>(staging, m, k_), row0);
  }
  switch (path_) {
    case GemmPath::kFp4W4A8:
    case GemmPath::kInt4W4A8:
      for (int64_t r = 0; r < m; ++r) {
        if (absl::Status s = CheckFiniteRow(name, gathered.Row(r), k_, r); !s.ok()) return s;
      }
      QuantizeInt8Rows(gathered, group_, reinterpret_cast<int8_t*>(values_.data()) + row0 * k_,
                       reinterpret_cast<float*>(scales_.data()) + row0 * (k_ / group_));
      return absl::OkStatus();
    case GemmPath::kFp4W4A4Lut:  // handled above
      break;
    case GemmPath::kFp4W4A16:
    case GemmPath::kInt4W4A16:
      if (absl::Status s = RoundRowsToBf16Checked(
              name, gathered, reinterpret_cast<Bf16*>(values_.data()) + row0 * k_);
          !s.ok()) {
        return s;
      }
      SetTiles(row0, m);
      return absl::OkStatus();
  }
  return absl::InternalError("BufferA: unknown path");
}

absl::Status BufferA::SetBf16(std::string_view name, const uint16_t* x, int64_t m,
                              int64_t row0) {
  if (!RowRange{row0, m}.Within(max_m_)) return RowsDoNotFit(name, m, row0, max_m_);
  return SetBf16Gathered(name, x, m, nullptr, row0, Check::kValues);
}

absl::Status BufferA::SetBf16Rows(std::string_view name, const uint16_t* x,
                                  absl::Span<const int64_t> rows, int64_t row0, Check check) {
  const int64_t m = static_cast<int64_t>(rows.size());
  if (m == 0 || !RowRange{row0, m}.Within(max_m_)) return RowsDoNotFit(name, m, row0, max_m_);
  return SetBf16Gathered(name, x, m, rows.data(), row0, check);
}

absl::Status BufferA::SetBf16Gathered(std::string_view name, const uint16_t* x, int64_t m,
                                      const int64_t* row_indices, int64_t row0, Check check) {
  const auto row = [&](int64_t r) {
    return x + (row_indices != nullptr ? row_indices[r] : r) * k_;
  };
  if (TakesBf16Activations(path_)) {
    auto* values = reinterpret_cast<uint16_t*>(values_.data()) + row0 * k_;
    for (int64_t r = 0; r < m; ++r) {
      uint16_t* copy = values + r * k_;
      std::memcpy(copy, row(r), k_ * sizeof(Bf16));
      if (check == Check::kValues && !AllFiniteBf16(copy, k_)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: non-finite value at [%d, %d]", name, r, FirstNonFiniteBf16(copy, k_)));
      }
    }
    SetTiles(row0, m);
    return absl::OkStatus();
  }
  // The range's own staging rows: threads setting disjoint ranges do not share any.
  auto* staging = reinterpret_cast<float*>(staging_.data()) + row0 * k_;
  for (int64_t r = 0; r < m; ++r) {
    const uint16_t* values = row(r);
    for (int64_t c = 0; c < k_; ++c) staging[r * k_ + c] = Bf16ToFloat(values[c]);
  }
  return Set(name, Eigen::Map<const RowMatrixXf>(staging, m, k_), row0);
}

absl::Status BufferA::FillArgs(RowRange rows, GemmArgs& args) const {
  args.m = rows.count;
  const int64_t r = rows.begin;
  switch (path_) {
    case GemmPath::kFp4W4A8:
    case GemmPath::kInt4W4A8:
      args.a_int8.values = reinterpret_cast<const int8_t*>(values_.data()) + r * k_;
      args.a_int8.scales = reinterpret_cast<const float*>(scales_.data()) + r * (k_ / group_);
      args.a_int8.group = group_;
      return absl::OkStatus();
    case GemmPath::kFp4W4A4Lut: {
      const auto* tensor_scales = reinterpret_cast<const float*>(tensor_scales_.data());
      for (int64_t i = rows.begin; i < rows.end(); ++i) {
        if (tensor_scales[i] != tensor_scales[r]) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "W4A4 activation rows [%d, %d) were quantized with different tensor scales (%g at "
              "row %d, %g at row %d): a product takes the rows of one Set",
              rows.begin, rows.end(), tensor_scales[r], r, tensor_scales[i], i));
        }
      }
      args.a_fp4.codes = values_.data() + r * k_ / 2;
      args.a_fp4.scales = scales_.data() + r * (k_ / kE2M1Block);
      args.a_fp4.tensor_scale = tensor_scales[r];
      return absl::OkStatus();
    }
    case GemmPath::kFp4W4A16:
    case GemmPath::kInt4W4A16:
      args.a_bf16.values = reinterpret_cast<const uint16_t*>(values_.data()) + r * k_;
      args.a_bf16.tiles = nullptr;
      args.a_bf16.windows = nullptr;
      if (tiles_.size() > 0 && rows.count > 0) {
        const auto* sets = reinterpret_cast<const RowRange*>(tile_sets_.data());
        const bool one_set = std::all_of(sets + rows.begin, sets + rows.end(), [&](RowRange s) {
          return s.begin == rows.begin && s.count == rows.count;
        });
        if (one_set) args.a_bf16.tiles = reinterpret_cast<const uint16_t*>(tiles_.data()) + r * k_;
        if (one_set && column_windows_ && rows.count <= kColumnWindowMaxRows) {
          args.a_bf16.windows =
              reinterpret_cast<const uint16_t*>(tiles_.data() + ColumnWindowsOffset()) + r * k_;
        }
      }
      return absl::OkStatus();
  }
  return absl::InternalError("BufferA: unknown path");
}

RowMatrixXf BufferA::Dequantize(int64_t m) const {
  RowMatrixXf out(m, k_);
  switch (path_) {
    case GemmPath::kFp4W4A8:
    case GemmPath::kInt4W4A8: {
      const auto* values = reinterpret_cast<const int8_t*>(values_.data());
      const auto* scales = reinterpret_cast<const float*>(scales_.data());
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t c = 0; c < k_; ++c) {
          out(r, c) = values[r * k_ + c] * scales[r * (k_ / group_) + c / group_];
        }
      }
      return out;
    }
    case GemmPath::kFp4W4A4Lut: {
      // Row by row: each row has the tensor scale of the Set that wrote it.
      const auto* tensor_scales = reinterpret_cast<const float*>(tensor_scales_.data());
      const int64_t blocks = k_ / kE2M1Block;
      for (int64_t r = 0; r < m; ++r) {
        out.row(r) = DequantizeBlockwise(
            1, k_, kE2M1Block, absl::MakeConstSpan(values_.data() + r * k_ / 2, k_ / 2),
            DecodeE2M1,
            [&](int64_t block_index) {
              return DecodeBlockScale(ScaleKind::kE4M3, scales_.data(), r * blocks + block_index);
            },
            tensor_scales[r]);
      }
      return out;
    }
    case GemmPath::kFp4W4A16:
    case GemmPath::kInt4W4A16: {
      const auto* values = reinterpret_cast<const Bf16*>(values_.data());
      for (int64_t i = 0; i < m * k_; ++i) out.data()[i] = Bf16ToFloat(values[i]);
      return out;
    }
  }
  return out;
}

BufferC::BufferC(int64_t max_m, int64_t n)
    : max_m_(max_m), n_(n), data_(max_m * n * sizeof(float)) {}

RowMatrixXf BufferC::ToMatrix(int64_t m) const {
  return Eigen::Map<const RowMatrixXf>(data(), m, n_);
}

}  // namespace fp4moe::kernels
