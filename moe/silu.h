#ifndef FP4MOE_MOE_SILU_H_
#define FP4MOE_MOE_SILU_H_

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

// The versions behind them, each the same loop compiled for one ISA (moe/silu_loops.h), giving
// the same bits; SiluMul and ClampedSwiglu take the best this CPU runs. The layer runs them on
// every routed row of a prefill (qlen x top-k x intermediate elements): the baseline's 4-wide
// SSE2 took a third of the layer's work outside its products on Zen 4.
void SiluMulBaseline(const float* gate, const float* up, float* out, int64_t n);
void SiluMulAvx2(const float* gate, const float* up, float* out, int64_t n);
void SiluMulAvx512(const float* gate, const float* up, float* out, int64_t n);
void ClampedSwigluBaseline(const float* gate, const float* up, float limit, float* out,
                           int64_t n);
void ClampedSwigluAvx2(const float* gate, const float* up, float limit, float* out, int64_t n);
void ClampedSwigluAvx512(const float* gate, const float* up, float limit, float* out, int64_t n);

// rows[r * stride + c] += bias[c] for r in [0, count), c in [0, cols): an expert's bias on
// its output rows (or on a slice of their columns).
void AddRowBias(const float* bias, int64_t count, int64_t cols, int64_t stride, float* rows);

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_SILU_H_
