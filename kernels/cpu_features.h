#ifndef FP4MOE_KERNELS_CPU_FEATURES_H_
#define FP4MOE_KERNELS_CPU_FEATURES_H_

#include <cstdint>
#include <string>

namespace fp4moe::kernels {

// What the CPU and the OS let this process use, read once with cpuid/xgetbv.
struct CpuFeatures {
  bool avx2 = false;  // with FMA and F16C
  // AVX-512 F, BW, VL, VBMI, VNNI and BF16 together (Sapphire Rapids, Zen 4 and later);
  // the kernels use all of them, so they are one level.
  bool avx512 = false;
  // AMX TILE, INT8 and BF16 and AVX512-FP16, with the kernel's permission to use tile data granted
  // (arch_prctl(ARCH_REQ_XCOMP_PERM)); false where the OS refuses.
  bool amx = false;

  std::string ToString() const;
};

const CpuFeatures& DetectedCpuFeatures();

// This machine's physical memory in bytes, or 0 where the OS does not say: what work sized by
// user input (workspaces, copies of tensors) is checked against before it is allocated.
int64_t PhysicalMemoryBytes();

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_CPU_FEATURES_H_
