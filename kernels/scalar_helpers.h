#ifndef FP4MOE_KERNELS_SCALAR_HELPERS_H_
#define FP4MOE_KERNELS_SCALAR_HELPERS_H_

// Plain C++ helpers of the reference kernels and of the SIMD kernels' scalar parts. In an
// anonymous namespace like the ISA helpers (see kernels/microkernel.bzl on the ODR trap), so any
// kernel file may include it.

#include <cstdint>

#include "kernels/block_scale.h"
#include "kernels/microkernel.h"
#include "quant/bf16.h"

namespace fp4moe::kernels {
namespace {

// The group of each run of k in a walk that only moves forward, without a 64-bit division per
// run (a division in a decode loop costs as much as decoding the run).
class GroupCursor {
 public:
  GroupCursor(int64_t k, int64_t group)
      : group_(group), index_(k / group), end_((index_ + 1) * group) {}
  // The group holding k (k not below the last one asked for).
  int64_t At(int64_t k) {
    while (k >= end_) {
      ++index_;
      end_ += group_;
    }
    return index_;
  }

 private:
  int64_t group_, index_, end_;
};

// The 4-bit code of element l of a row of codes (element 2j in the low nibble of byte j).
[[maybe_unused]] uint8_t Nibble(const uint8_t* codes, int64_t l) {
  return (codes[l / 2] >> (4 * (l & 1))) & 0xF;
}

// C for 4-bit weights x int8 activations: per block of b.block elements, the exact int32 sum of
// decode(code) x activation, scaled by (weight block scale x activation block scale); the
// row's float sum times output_scale.
template <typename Decode>
void Int8BlockGemm(const GemmArgs& args, int64_t n_begin, int64_t n_end, Decode decode,
                   float output_scale) {
  const WeightsView& b = args.b;
  const int64_t blocks = b.k / b.block;
  for (int64_t i = 0; i < args.m; ++i) {
    const int8_t* a = args.a_int8.values + i * b.k;
    const float* a_scales = args.a_int8.scales + i * blocks;
    for (int64_t j = n_begin; j < n_end; ++j) {
      const uint8_t* codes = b.codes + j * b.k / 2;
      float acc = 0.0f;
      for (int64_t blk = 0; blk < blocks; ++blk) {
        int32_t sum = 0;
        for (int64_t l = blk * b.block; l < (blk + 1) * b.block; ++l) {
          sum += decode(Nibble(codes, l)) * a[l];
        }
        acc += static_cast<float>(sum) *
               (DecodeBlockScale(b.scale_kind, b.scales, j * blocks + blk) * a_scales[blk]);
      }
      args.c[i * args.ldc + j] = acc * output_scale;
    }
  }
}

// C for 4-bit weights x BF16 activations: each weight, decode(code) x its block scale, rounded
// to BF16 (what the BF16 tile and dot-product instructions take), products summed in float32;
// the row's sum times tensor_scale.
template <typename Decode>
void Bf16WeightGemm(const GemmArgs& args, int64_t n_begin, int64_t n_end, Decode decode) {
  const WeightsView& b = args.b;
  const int64_t blocks = b.k / b.block;
  for (int64_t i = 0; i < args.m; ++i) {
    const uint16_t* a = args.a_bf16.values + i * b.k;
    for (int64_t j = n_begin; j < n_end; ++j) {
      const uint8_t* codes = b.codes + j * b.k / 2;
      float acc = 0.0f;
      for (int64_t blk = 0; blk < blocks; ++blk) {
        const float scale = DecodeBlockScale(b.scale_kind, b.scales, j * blocks + blk);
        for (int64_t l = blk * b.block; l < (blk + 1) * b.block; ++l) {
          const float w = RoundToBf16(decode(Nibble(codes, l)) * scale);
          acc += w * Bf16ToFloat(a[l]);
        }
      }
      args.c[i * args.ldc + j] = acc * b.tensor_scale;
    }
  }
}

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_SCALAR_HELPERS_H_
