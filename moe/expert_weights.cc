#include "moe/expert_weights.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/strings/str_format.h"
#include "files/out_of_memory.h"

namespace fp4moe::moe {
namespace {

// By StrFormatOrBadAlloc: QuantizeExpert runs in an OpenMP loop, where running out of memory
// in StrFormat would abort instead of throwing std::bad_alloc to the loop's catch.
std::string TensorName(int64_t expert, std::string_view projection) {
  return files::StrFormatOrBadAlloc("expert %d %s", expert, projection);
}

absl::Status CheckShape(std::string_view name, int64_t rows, int64_t cols, int64_t want_rows,
                        int64_t want_cols, std::string_view want_names) {
  if (rows == want_rows && cols == want_cols) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat("%s: shape [%d, %d], expected [%d, %d] (%s)",
                                                    name, rows, cols, want_rows, want_cols,
                                                    want_names));
}

constexpr std::string_view kGateUpShape = "[intermediate_size, hidden_size]";
constexpr std::string_view kDownShape = "[hidden_size, intermediate_size]";

template <typename Tensor>
absl::StatusOr<QuantizedTensor> Wrap(absl::StatusOr<Tensor> t) {
  if (!t.ok()) return t.status();
  return QuantizedTensor(std::move(*t));
}

absl::StatusOr<QuantizedTensor> QuantizeTensor(const MoeConfig& config, std::string_view name,
                                               const RowMatrixXf& w) {
  switch (config.weight_format) {
    case WeightFormat::kNvfp4:
      return Wrap(QuantizeNvfp4(name, w));
    case WeightFormat::kFp4FloatScale:
      return Wrap(QuantizeFp4FloatScale(name, w));
    case WeightFormat::kMxfp4:
      return Wrap(QuantizeMxfp4(name, w));
    case WeightFormat::kInt4K2:
      return Wrap(QuantizeInt4K2(name, w, config.group_size));
  }
  return absl::InvalidArgumentError(absl::StrFormat("%s: unknown weight format", name));
}

WeightFormat FormatOf(const Nvfp4Tensor&) { return WeightFormat::kNvfp4; }
WeightFormat FormatOf(const Fp4FloatScaleTensor&) { return WeightFormat::kFp4FloatScale; }
WeightFormat FormatOf(const Mxfp4Tensor&) { return WeightFormat::kMxfp4; }
WeightFormat FormatOf(const Int4K2Tensor&) { return WeightFormat::kInt4K2; }

template <typename Tensor>
int64_t BlockOf(const Tensor& t) {
  if constexpr (std::is_same_v<Tensor, Int4K2Tensor>) {
    return t.group_size;
  } else {
    return Tensor::kBlock;
  }
}

absl::StatusOr<kernels::BufferB> Pack(std::string_view name, const Nvfp4Tensor& t) {
  return kernels::BufferB::FromNvfp4(name, t);
}
absl::StatusOr<kernels::BufferB> Pack(std::string_view name, const Fp4FloatScaleTensor& t) {
  return kernels::BufferB::FromFp4FloatScale(name, t);
}
absl::StatusOr<kernels::BufferB> Pack(std::string_view name, const Mxfp4Tensor& t) {
  return kernels::BufferB::FromMxfp4(name, t);
}
absl::StatusOr<kernels::BufferB> Pack(std::string_view name, const Int4K2Tensor& t) {
  return kernels::BufferB::FromInt4K2(name, t);
}

// Rows [row0, row0 + rows) and columns [col0, col0 + cols) of a quantized tensor; col0 and
// cols are multiples of the block, so codes and scales split without requantizing.
template <typename Tensor>
Tensor Slice(const Tensor& t, int64_t row0, int64_t rows, int64_t col0, int64_t cols) {
  Tensor out;
  out.rows = rows;
  out.cols = cols;
  if constexpr (std::is_same_v<Tensor, Nvfp4Tensor>) out.scale_2 = t.scale_2;
  if constexpr (std::is_same_v<Tensor, Int4K2Tensor>) {
    out.group_size = t.group_size;
    out.scale_type = t.scale_type;
  }
  const int64_t block = BlockOf(t);
  const int64_t blocks = t.cols / block;
  out.packed.resize(rows * cols / 2);
  out.scales.resize(rows * (cols / block));
  for (int64_t r = 0; r < rows; ++r) {
    const auto packed = t.packed.begin() + (row0 + r) * (t.cols / 2) + col0 / 2;
    std::copy(packed, packed + cols / 2, out.packed.begin() + r * (cols / 2));
    const auto scales = t.scales.begin() + (row0 + r) * blocks + col0 / block;
    std::copy(scales, scales + cols / block, out.scales.begin() + r * (cols / block));
  }
  return out;
}

// Checks one tensor against the config and the expected shape, and packs the part's slice.
absl::StatusOr<kernels::BufferB> PackPart(const MoeConfig& config, std::string_view name,
                                          const QuantizedTensor& tensor, int64_t rows,
                                          int64_t cols, std::string_view shape_names,
                                          int64_t row0, int64_t part_rows, int64_t col0,
                                          int64_t part_cols) {
  return std::visit(
      [&](const auto& t) -> absl::StatusOr<kernels::BufferB> {
        if (FormatOf(t) != config.weight_format) {
          return absl::InvalidArgumentError(
              absl::StrFormat("%s: tensor is %s, the layer is configured for %s", name,
                              TraitsOf(FormatOf(t)).name, TraitsOf(config.weight_format).name));
        }
        if (BlockOf(t) != config.weight_block()) {
          return absl::InvalidArgumentError(
              absl::StrFormat("%s: group size %d, the layer is configured for %d", name,
                              BlockOf(t), config.weight_block()));
        }
        if (absl::Status s = CheckShape(name, t.rows, t.cols, rows, cols, shape_names);
            !s.ok()) {
          return s;
        }
        if (absl::Status s = CheckConsistent(name, t); !s.ok()) return s;
        if (part_rows == rows && part_cols == cols) return Pack(name, t);
        return Pack(name, Slice(t, row0, part_rows, col0, part_cols));
      },
      tensor);
}

}  // namespace

absl::StatusOr<ExpertQuantizedWeights> QuantizeExpert(const MoeConfig& config, int64_t expert,
                                                      const ExpertFloatWeights& weights) {
  const int64_t hidden = config.hidden_size, inter = config.intermediate_size;
  const struct {
    std::string_view projection;
    const RowMatrixXf& w;
    int64_t rows, cols;
    std::string_view shape_names;
  } projections[] = {{"gate", weights.gate, inter, hidden, kGateUpShape},
                     {"up", weights.up, inter, hidden, kGateUpShape},
                     {"down", weights.down, hidden, inter, kDownShape}};
  QuantizedTensor quantized[3];
  for (int i = 0; i < 3; ++i) {
    const auto& p = projections[i];
    const std::string name = TensorName(expert, p.projection);
    if (absl::Status s = CheckShape(name, p.w.rows(), p.w.cols(), p.rows, p.cols, p.shape_names);
        !s.ok()) {
      return s;
    }
    absl::StatusOr<QuantizedTensor> q = QuantizeTensor(config, name, p.w);
    if (!q.ok()) return q.status();
    quantized[i] = std::move(*q);
  }
  return ExpertQuantizedWeights{std::move(quantized[0]), std::move(quantized[1]),
                                std::move(quantized[2])};
}

absl::Status CheckExpertBiases(const MoeConfig& config, int64_t expert,
                               const ExpertBiases& biases) {
  const struct {
    std::string_view projection;
    const std::vector<float>& bias;
    int64_t size;
    std::string_view size_name;
  } projections[] = {{"gate", biases.gate, config.intermediate_size, "intermediate_size"},
                     {"up", biases.up, config.intermediate_size, "intermediate_size"},
                     {"down", biases.down, config.hidden_size, "hidden_size"}};
  for (const auto& p : projections) {
    const std::string name = TensorName(expert, p.projection);
    if (static_cast<int64_t>(p.bias.size()) != p.size) {
      return absl::InvalidArgumentError(absl::StrFormat("%s bias: %d values, expected %d (%s)",
                                                        name, p.bias.size(), p.size,
                                                        p.size_name));
    }
    for (size_t i = 0; i < p.bias.size(); ++i) {
      if (!std::isfinite(p.bias[i])) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%s bias[%d] = %g is not finite", name, i, p.bias[i]));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ExpertPart> PackExpertPart(const MoeConfig& config, int64_t expert,
                                          const ExpertQuantizedWeights& weights, int part,
                                          const ExpertBiases* biases) {
  const int64_t hidden = config.hidden_size, inter = config.intermediate_size;
  const int64_t part_inter = config.part_intermediate_size();
  const int64_t begin = part * part_inter;
  absl::StatusOr<kernels::BufferB> gate =
      PackPart(config, TensorName(expert, "gate"), weights.gate, inter, hidden, kGateUpShape,
               begin, part_inter, 0, hidden);
  if (!gate.ok()) return gate.status();
  absl::StatusOr<kernels::BufferB> up =
      PackPart(config, TensorName(expert, "up"), weights.up, inter, hidden, kGateUpShape, begin,
               part_inter, 0, hidden);
  if (!up.ok()) return up.status();
  absl::StatusOr<kernels::BufferB> down =
      PackPart(config, TensorName(expert, "down"), weights.down, hidden, inter, kDownShape, 0,
               hidden, begin, part_inter);
  if (!down.ok()) return down.status();
  ExpertPart packed{std::move(*gate), std::move(*up), std::move(*down), {}, {}, {}};
  if (biases != nullptr) {
    packed.gate_bias.assign(biases->gate.begin() + begin,
                            biases->gate.begin() + begin + part_inter);
    packed.up_bias.assign(biases->up.begin() + begin, biases->up.begin() + begin + part_inter);
    if (part == 0) packed.down_bias = biases->down;
  }
  return packed;
}

}  // namespace fp4moe::moe
