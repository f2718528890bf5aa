#ifndef FP4MOE_KERNELS_MICROKERNELS_H_
#define FP4MOE_KERNELS_MICROKERNELS_H_

// Entry points of every microkernel, one per file named the same. `_emulated` is the same
// source compiled through SIMDe (and the AMX tile emulation) for machines without the ISA.

#include "kernels/microkernel.h"

namespace fp4moe::kernels {

#define FP4MOE_DECLARE_MICROKERNEL(name) \
  void name(const GemmArgs& args, int64_t n_begin, int64_t n_end)

// Scalar references of each path.
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a4_lut_scalar);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a8_scalar);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a16_scalar);
FP4MOE_DECLARE_MICROKERNEL(int4_w4a8_scalar);
FP4MOE_DECLARE_MICROKERNEL(int4_w4a16_scalar);

// --- fp4_w4a4_lut kernels ---
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a4_lut_4x4_avx512);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a4_lut_4x4_avx512_emulated);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a4_lut_4x2_avx2);

// --- fp4_w4a8 kernels ---
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a8_4x4_avx512);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a8_4x4_avx512_emulated);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a8_rowblocks_64x32_avx512);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a8_rowblocks_64x32_avx512_emulated);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a8_4x2_avx2);

// --- fp4_w4a16 kernels ---
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a16_4x4_avx512);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a16_4x4_avx512_emulated);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a16_32x32_amx);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a16_32x32_amx_emulated);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a16_fp16mul_32x32_amx);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a16_fp16mul_32x32_amx_emulated);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a16_panels_32x32_amx);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a16_panels_32x32_amx_emulated);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a16_scaledsums_16x16_amx);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a16_scaledsums_16x16_amx_emulated);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a16_decodeslots_32x32_amx);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a16_decodeslots_32x32_amx_emulated);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a16_rowblocks_16x32_amx);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a16_rowblocks_16x32_amx_emulated);
FP4MOE_DECLARE_MICROKERNEL(fp4_w4a16_4x2_avx2);

// --- int4_w4a8 kernels ---
FP4MOE_DECLARE_MICROKERNEL(int4_w4a8_32x32_amx);
FP4MOE_DECLARE_MICROKERNEL(int4_w4a8_32x32_amx_emulated);
FP4MOE_DECLARE_MICROKERNEL(int4_w4a8_4x4_avx512);
FP4MOE_DECLARE_MICROKERNEL(int4_w4a8_4x4_avx512_emulated);
FP4MOE_DECLARE_MICROKERNEL(int4_w4a8_4x2_avx2);

// --- int4_w4a16 kernels ---
FP4MOE_DECLARE_MICROKERNEL(int4_w4a16_32x32_amx);
FP4MOE_DECLARE_MICROKERNEL(int4_w4a16_32x32_amx_emulated);
FP4MOE_DECLARE_MICROKERNEL(int4_w4a16_scaledsums_16x16_amx);
FP4MOE_DECLARE_MICROKERNEL(int4_w4a16_scaledsums_16x16_amx_emulated);
FP4MOE_DECLARE_MICROKERNEL(int4_w4a16_4x4_avx512);
FP4MOE_DECLARE_MICROKERNEL(int4_w4a16_4x4_avx512_emulated);
FP4MOE_DECLARE_MICROKERNEL(int4_w4a16_4x2_avx2);

#undef FP4MOE_DECLARE_MICROKERNEL

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_MICROKERNELS_H_
