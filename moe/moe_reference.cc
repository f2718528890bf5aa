// The error bound. u = 2^-24 is float32's unit roundoff. For one GEMM y = a W^T over K terms
// the operator computes from activations a + d, |d| <= D elementwise (D per path, below), and
// weights W + e, |e| <= r |W| (r = weight_relative_error), summing in float32:
//   |y_op - y| <= D |W|^T + c_K (|a| + D) |W|^T,   c_K = g_K + r + g_K r,  g_K = (K + 4) u
// (g_K: K float additions, plus the block-scale and final multiplies of the blockwise kernels;
// exact int32 sums within a block only make it smaller). D per path:
//   int8 per group:  scale = amax_group / 127, round to nearest: D = amax_group / 254
//                    (times 1 + 4u for the float32 scale);
//   BF16:            round to nearest even, 8 significant bits: D = 2^-8 |a| (the unit
//                    roundoff of 8 bits, as 2^-24 is float32's);
//   NVFP4 (W4A4):    block scale S <= amax_block / 6 (1 + 2^-4) + 2^-9 scale_2 (E4M3 keeps 3
//                    mantissa bits, subnormal step and floor at 2^-9 of scale_2 =
//                    amax_tensor / 2688); E2M1's widest gap is 2 S (between 4 S and 6 S) and
//                    saturation loses at most amax_block 2^-4 < S, so D = S; amax_tensor is
//                    taken over the whole call (the operator's batches are subsets).
// SiLU: |silu'| <= 1.0999, so h = silu(g) u is off by
//   E_h <= 1.1 E_g (|u| + E_u) + |silu(g)| E_u + 8u (|silu(g)| + 1.1 E_g)(|u| + E_u)
// (8u: expf, add, divide, multiply). The clamped SwiGLU h = (u' + 1) glu(g') has the same form
// with u' + 1 for u (clamps do not grow errors; glu(x) = x sigmoid(a x) has glu'(x) = silu'(a x)
// <= 1.1) and (10 + |a g'|) u for 8u: one more rounding in u' + 1, one in a g', which e^-(a g')
// carries as |a g'| times its relative error, at most that relative in glu. A bias adds one
// rounding of the biased sum (u (|y| + |b|)) to its product's error. The down GEMM then reads h rounded again (its D from
// |h| + E_h) and carries E_h like D. The weighted sum over k experts and P parts adds
// (k P + 1) u sum_j |w_j| (|y_j| + E_yj). Second-order terms are covered by using |x| + E
// wherever a perturbed quantity's size enters.
#include "moe/moe_reference.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "moe/elementwise.h"

namespace fp4moe::moe {
namespace {

constexpr double kUnitRoundoff = 0x1p-24;
constexpr double kMaxSiluSlope = 1.1;

// D for every element of `magnitude` (the size of the values the operator rounds).
RowMatrixXd RoundingError(const RowMatrixXd& magnitude, const PathRounding& rounding,
                          double tensor_amax) {
  RowMatrixXd d = RowMatrixXd::Zero(magnitude.rows(), magnitude.cols());
  switch (rounding.activations) {
    case PathRounding::Activations::kExact:
      break;
    case PathRounding::Activations::kBf16:
      d = magnitude * 0x1p-8;
      break;
    case PathRounding::Activations::kInt8PerGroup:
    case PathRounding::Activations::kNvfp4: {
      const bool int8 = rounding.activations == PathRounding::Activations::kInt8PerGroup;
      const int64_t group = int8 ? rounding.group : 16;
      for (int64_t r = 0; r < magnitude.rows(); ++r) {
        for (int64_t c = 0; c < magnitude.cols(); c += group) {
          const double amax = magnitude.row(r).segment(c, group).maxCoeff();
          const double bound = int8 ? amax / 254 * (1 + 4 * kUnitRoundoff)
                                    : amax / 6 * (1 + 0x1p-4) + 0x1p-9 * tensor_amax / 2688;
          d.row(r).segment(c, group).setConstant(bound);
        }
      }
      break;
    }
  }
  return d;
}

double Silu(double x) { return x / (1 + std::exp(-x)); }

// products[r, c] += bias[c] with the rounding of that sum added to error[r, c]; no-op for an
// empty bias.
void AddBias(const std::vector<float>& bias, RowMatrixXd& products, RowMatrixXd& error) {
  if (bias.empty()) return;
  const Eigen::RowVectorXd b =
      Eigen::Map<const Eigen::RowVectorXf>(bias.data(), bias.size()).cast<double>();
  RowMatrixXd size = products.cwiseAbs() + error;
  size.rowwise() += b.cwiseAbs();
  error += kUnitRoundoff * size;
  products.rowwise() += b;
}

// One expert's tokens through gate and up, in double, with the bound on the operator's h.
struct ExpertStage {
  std::vector<int64_t> tokens;
  PathRounding rounding;  // of the expert's products
  RowMatrixXd h, h_error;
};

}  // namespace

PathRounding RoundingOf(kernels::GemmPath path, WeightFormat format, int64_t group) {
  PathRounding r;
  switch (path) {
    case kernels::GemmPath::kFp4W4A4Lut:
      r.activations = PathRounding::Activations::kNvfp4;
      break;
    case kernels::GemmPath::kFp4W4A8:
    case kernels::GemmPath::kInt4W4A8:
      r.activations = PathRounding::Activations::kInt8PerGroup;
      r.group = group;
      break;
    case kernels::GemmPath::kFp4W4A16:
    case kernels::GemmPath::kInt4W4A16:
      r.activations = PathRounding::Activations::kBf16;
      // Each weight (code x scale) rounds to BF16: exact for E2M1 times an E4M3 or E8M0 scale
      // (at most 6 significant bits), within 2^-8 relative (8 significant bits) for a float32
      // or BF16 scale.
      if (format == WeightFormat::kFp4FloatScale || format == WeightFormat::kInt4K2) {
        r.weight_relative_error = 0x1p-8;
      }
      break;
  }
  return r;
}

MoeReferenceResult ReferenceMoe(absl::Span<const ExpertFloatWeights> experts, int64_t qlen,
                                int k, const int64_t* expert_ids, const float* routing_weights,
                                ConstRowMatrixRef input, const PathRounding& rounding,
                                int tp_parts, const ExpertExtras& extras) {
  return ReferenceMoe(
      experts, qlen, k, expert_ids, routing_weights, input,
      [&rounding](int64_t) { return rounding; }, tp_parts, extras);
}

MoeReferenceResult ReferenceMoe(absl::Span<const ExpertFloatWeights> experts, int64_t qlen,
                                int k, const int64_t* expert_ids, const float* routing_weights,
                                ConstRowMatrixRef input, RoundingOfRows rounding_of,
                                int tp_parts, const ExpertExtras& extras) {
  const int64_t hidden = input.cols();
  const int64_t inter = experts[0].gate.rows();
  const auto accumulation = [](int64_t terms, const PathRounding& rounding) {
    const double g = (terms + 4) * kUnitRoundoff;
    return g + rounding.weight_relative_error + g * rounding.weight_relative_error;
  };
  const RowMatrixXd x = input.topRows(qlen).cast<double>();
  const RowMatrixXd x_abs = x.cwiseAbs();
  const double x_amax = x_abs.maxCoeff();

  // Gate, up and SiLU for each expert's distinct tokens.
  std::vector<ExpertStage> stages(experts.size());
  for (int64_t t = 0; t < qlen; ++t) {
    for (int j = 0; j < k; ++j) {
      std::vector<int64_t>& tokens = stages[expert_ids[t * k + j]].tokens;
      if (tokens.empty() || tokens.back() != t) tokens.push_back(t);
    }
  }
  double h_amax = 0;
  for (size_t e = 0; e < experts.size(); ++e) {
    ExpertStage& stage = stages[e];
    if (stage.tokens.empty()) continue;
    const int64_t n = stage.tokens.size();
    stage.rounding = rounding_of(n);
    RowMatrixXd a(n, hidden), a_abs(n, hidden);
    for (int64_t i = 0; i < n; ++i) {
      a.row(i) = x.row(stage.tokens[i]);
      a_abs.row(i) = x_abs.row(stage.tokens[i]);
    }
    const RowMatrixXd a_error = RoundingError(a_abs, stage.rounding, x_amax);
    const RowMatrixXd wg = experts[e].gate.cast<double>(), wu = experts[e].up.cast<double>();
    RowMatrixXd g = a * wg.transpose(), u = a * wu.transpose();
    const RowMatrixXd a_size = a_abs + a_error;
    const double c = accumulation(hidden, stage.rounding);
    RowMatrixXd g_error =
        a_error * wg.cwiseAbs().transpose() + c * (a_size * wg.cwiseAbs().transpose());
    RowMatrixXd u_error =
        a_error * wu.cwiseAbs().transpose() + c * (a_size * wu.cwiseAbs().transpose());
    if (!extras.biases.empty()) {
      AddBias(extras.biases[e].gate, g, g_error);
      AddBias(extras.biases[e].up, u, u_error);
    }
    const bool swiglu = extras.activation == ExpertActivation::kClampedSwiglu;
    const double limit = extras.swiglu_limit, alpha = kSwigluAlpha;
    stage.h.resize(n, inter);
    stage.h_error.resize(n, inter);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t l = 0; l < inter; ++l) {
        // act(g) * factor: silu(g) * u, or glu(min(g, limit)) * (clamp(u) + 1).
        const double gate = swiglu ? std::min(g(i, l), limit) : g(i, l);
        const double act = swiglu ? gate / (1 + std::exp(-alpha * gate)) : Silu(gate);
        const double factor = swiglu ? std::clamp(u(i, l), -limit, limit) + 1 : u(i, l);
        const double roundings = swiglu ? 10 + alpha * std::abs(gate) : 8;
        const double factor_size = std::abs(factor) + u_error(i, l);
        const double act_size = std::abs(act) + kMaxSiluSlope * g_error(i, l);
        stage.h(i, l) = act * factor;
        stage.h_error(i, l) = kMaxSiluSlope * g_error(i, l) * factor_size +
                              std::abs(act) * u_error(i, l) +
                              roundings * kUnitRoundoff * act_size * factor_size;
      }
    }
    h_amax = std::max(h_amax, (stage.h.cwiseAbs() + stage.h_error).maxCoeff());
  }

  // Down, then the weighted sum, row by row of each expert.
  MoeReferenceResult result{RowMatrixXd::Zero(qlen, hidden), RowMatrixXd::Zero(qlen, hidden)};
  RowMatrixXd sum_abs = RowMatrixXd::Zero(qlen, hidden);
  for (size_t e = 0; e < experts.size(); ++e) {
    const ExpertStage& stage = stages[e];
    if (stage.tokens.empty()) continue;
    const RowMatrixXd wd = experts[e].down.cast<double>();
    const RowMatrixXd h_size = stage.h.cwiseAbs() + stage.h_error;
    const RowMatrixXd h_error =
        stage.h_error + RoundingError(h_size, stage.rounding, h_amax);
    RowMatrixXd y = stage.h * wd.transpose();
    RowMatrixXd y_error =
        h_error * wd.cwiseAbs().transpose() +
        accumulation(inter, stage.rounding) *
            ((h_size + h_error - stage.h_error) * wd.cwiseAbs().transpose());
    if (!extras.biases.empty()) AddBias(extras.biases[e].down, y, y_error);
    for (size_t i = 0; i < stage.tokens.size(); ++i) {
      const int64_t t = stage.tokens[i];
      for (int j = 0; j < k; ++j) {
        if (expert_ids[t * k + j] != static_cast<int64_t>(e)) continue;
        const double w = routing_weights[t * k + j];
        result.output.row(t) += w * y.row(i);
        result.error_bound.row(t) += std::abs(w) * y_error.row(i);
        sum_abs.row(t) += std::abs(w) * (y.row(i).cwiseAbs() + y_error.row(i));
      }
    }
  }
  result.error_bound += (static_cast<double>(k) * tp_parts + 1) * kUnitRoundoff * sum_abs;
  return result;
}

}  // namespace fp4moe::moe
