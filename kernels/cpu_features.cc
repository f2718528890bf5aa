#include "kernels/cpu_features.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

#include "absl/strings/str_format.h"

namespace fp4moe::kernels {
namespace {

constexpr int kArchReqXcompPerm = 0x1023;  // arch_prctl code, Linux 5.16+
constexpr int kXfeatureXtiledata = 18;

bool Bit(uint32_t reg, int bit) { return (reg >> bit) & 1; }

uint64_t Xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

CpuFeatures Detect() {
  CpuFeatures f;
  uint32_t eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool osxsave = Bit(ecx, 27), fma = Bit(ecx, 12), f16c = Bit(ecx, 29);
  if (!osxsave) return f;
  const uint64_t xcr0 = Xgetbv0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;
  const bool zmm_state = (xcr0 & 0xE6) == 0xE6;
  uint32_t b7 = 0, c7 = 0, d7 = 0, a71 = 0;
  __cpuid_count(7, 0, eax, b7, c7, d7);
  __cpuid_count(7, 1, a71, ebx, ecx, edx);
  f.avx2 = ymm_state && fma && f16c && Bit(b7, 5);
  const bool avx512f = Bit(b7, 16), avx512bw = Bit(b7, 30), avx512vl = Bit(b7, 31);
  const bool vbmi = Bit(c7, 1), vnni = Bit(c7, 11), bf16 = Bit(a71, 5);
  f.avx512 = f.avx2 && zmm_state && avx512f && avx512bw && avx512vl && vbmi && vnni && bf16;
  const bool amx_bf16 = Bit(d7, 22), amx_tile = Bit(d7, 24), amx_int8 = Bit(d7, 25);
  // The AMX kernels also use AVX512-FP16, which every AMX CPU has.
  const bool avx512fp16 = Bit(d7, 23);
  if (f.avx512 && avx512fp16 && amx_tile && amx_int8 && amx_bf16) {
    // Linux keeps tile data disabled until the process asks; a refusal leaves AMX off.
    f.amx = syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }
  return f;
}

}  // namespace

std::string CpuFeatures::ToString() const {
  return absl::StrFormat("avx2=%d avx512=%d amx=%d", avx2, avx512, amx);
}

const CpuFeatures& DetectedCpuFeatures() {
  static const CpuFeatures features = Detect();
  return features;
}

int64_t PhysicalMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page_bytes = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_bytes <= 0) return 0;
  return int64_t{pages} * page_bytes;
}

}  // namespace fp4moe::kernels
