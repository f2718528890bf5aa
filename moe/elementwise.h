#ifndef FP4MOE_MOE_ELEMENTWISE_H_
#define FP4MOE_MOE_ELEMENTWISE_H_

#include <cstdint>

namespace fp4moe::moe {

// out[i] = silu(gate[i]) * up[i] with silu(x) = x * sigmoid(x) = x / (1 + e^-x), e^-x
// computed inline (vectorised, within 2e-7 relative: about 1.5 units in the last place);
// out may alias gate or up. Finite inputs give finite outputs (e^-x overflowing to infinity
// gives -0 for very negative x).
void SiluMul(const float* gate, const float* up, float* out, int64_t n);

// gpt-oss's clamped SwiGLU, as Hugging Face's GptOssExperts computes it: with g = min(gate[i],
// limit) and u = clamp(up[i], -limit, limit), out[i] = (u + 1) * g * sigmoid(kSwigluAlpha * g),
// the exponential as in SiluMul; out may alias gate or up. NaN stays NaN.
inline constexpr float kSwigluAlpha = 1.702f;
void ClampedSwiglu(const float* gate, const float* up, float limit, float* out, int64_t n);

// out[c] = the sum over i in [0, count) of weights[i] * rows[i][c], for c in [0, n): added in i
// order from +0, each product and sum rounded to float, so that every caller and ISA summing
// the same rows in the same order gets the same bits (the layer's output: a token's routed
// down rows, in slot then part order, in prefill and decode alike). With `accumulate` the sum
// starts from out's values instead, so that a long sum given in batches ends as one.
void WeightedRowSum(const float* const* rows, const float* weights, int64_t count, int64_t n,
                    bool accumulate, float* out);

// The versions behind them, each the same loop compiled for one ISA (moe/elementwise_loops.h),
// giving the same bits; SiluMul, ClampedSwiglu and WeightedRowSum take the best this CPU runs.
// The layer runs them on every routed row of a prefill (qlen x top-k x intermediate, or hidden,
// elements): the baseline's 4-wide SSE2 SiLU took a third of the layer's work outside its
// products on Zen 4.
void SiluMulBaseline(const float* gate, const float* up, float* out, int64_t n);
void SiluMulAvx2(const float* gate, const float* up, float* out, int64_t n);
void SiluMulAvx512(const float* gate, const float* up, float* out, int64_t n);
void ClampedSwigluBaseline(const float* gate, const float* up, float limit, float* out,
                           int64_t n);
void ClampedSwigluAvx2(const float* gate, const float* up, float limit, float* out, int64_t n);
void ClampedSwigluAvx512(const float* gate, const float* up, float limit, float* out, int64_t n);
void WeightedRowSumBaseline(const float* const* rows, const float* weights, int64_t count,
                            int64_t n, bool accumulate, float* out);
void WeightedRowSumAvx2(const float* const* rows, const float* weights, int64_t count,
                        int64_t n, bool accumulate, float* out);
void WeightedRowSumAvx512(const float* const* rows, const float* weights, int64_t count,
                          int64_t n, bool accumulate, float* out);

// rows[r * stride + c] += bias[c] for r in [0, count), c in [0, cols): an expert's bias on
// its output rows (or on a slice of their columns).
void AddRowBias(const float* bias, int64_t count, int64_t cols, int64_t stride, float* rows);

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_ELEMENTWISE_H_
