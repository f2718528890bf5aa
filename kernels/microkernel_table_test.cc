#include "kernels/microkernel_table.h"

#include <link.h>

#include <cstdlib>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "quant/test_matchers.h"

namespace fp4moe::kernels {
namespace {

using ::testing::HasSubstr;

CpuFeatures Cpu(bool avx2, bool avx512, bool amx) {
  CpuFeatures cpu;
  cpu.avx2 = avx2;
  cpu.avx512 = avx512;
  cpu.amx = amx;
  return cpu;
}

TEST(MicrokernelTableTest, NamesAreUniqueAndEveryPathHasAScalarKernel) {
  std::set<std::string> names;
  for (const Microkernel& kernel : AllMicrokernels()) {
    EXPECT_TRUE(names.insert(kernel.name).second) << kernel.name;
    const absl::StatusOr<const Microkernel*> found = FindMicrokernel(kernel.name);
    EXPECT_TRUE(found.ok() && *found == &kernel) << kernel.name;
    EXPECT_GE(kernel.min_m, 1) << kernel.name;
  }
  EXPECT_THAT(FindMicrokernel("w4a16"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'w4a16'")));
  for (GemmPath path : AllPaths()) {
    absl::StatusOr<const Microkernel*> k = SelectMicrokernel(path, Isa::kScalar, Cpu(false, false, false));
    ASSERT_TRUE(k.ok()) << k.status();
    EXPECT_EQ((*k)->isa, Isa::kScalar);
  }
}

// Static TLS comes out of every thread's stack (glibc), so kernels keep large per-thread
// scratch on the heap (kernels/thread_scratch.h): a dozen 610 KB thread_local copies once
// outgrew an 8 MB thread stack. This binary links every kernel, native and emulated.
TEST(MicrokernelTableTest, KernelsKeepLittleThreadLocalData) {
  size_t tls_bytes = 0;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          if (info->dlpi_phdr[i].p_type == PT_TLS) {
            *static_cast<size_t*>(data) += info->dlpi_phdr[i].p_memsz;
          }
        }
        return 0;
      },
      &tls_bytes);
  EXPECT_LT(tls_bytes, size_t{2} << 20);
}

TEST(MicrokernelTableTest, PicksTheBestNativeKernelForTheRowCount) {
  const CpuFeatures full = Cpu(true, true, true);
  for (const Microkernel& kernel : AllMicrokernels()) {
    if (kernel.emulated) continue;
    // Whatever m, the choice is native, supported, and no lower an ISA than this kernel's
    // when this kernel qualifies for m.
    for (int64_t m : {int64_t{1}, int64_t{1024}}) {
      absl::StatusOr<const Microkernel*> best = SelectMicrokernel(kernel.path, std::nullopt, full, m);
      ASSERT_TRUE(best.ok()) << best.status();
      EXPECT_FALSE((*best)->emulated);
      EXPECT_LE((*best)->min_m, m);
      if (kernel.min_m <= m) {
        EXPECT_GE((*best)->isa, kernel.isa) << kernel.name << " m=" << m;
      }
    }
  }
  // Without AVX-512 nothing above AVX2 is chosen.
  absl::StatusOr<const Microkernel*> avx2_only =
      SelectMicrokernel(GemmPath::kFp4W4A4Lut, std::nullopt, Cpu(true, false, false));
  ASSERT_TRUE(avx2_only.ok());
  EXPECT_LE((*avx2_only)->isa, Isa::kAvx2);
}

TEST(MicrokernelTableTest, VariantsAreNeverPickedAndHaveADispatchedTwin) {
  const CpuFeatures full = Cpu(true, true, true);
  int variants = 0;
  for (const Microkernel& kernel : AllMicrokernels()) {
    if (!kernel.variant) continue;
    ++variants;
    for (int64_t m : {int64_t{1}, kernel.min_m, int64_t{1024}}) {
      absl::StatusOr<const Microkernel*> picked =
          SelectMicrokernel(kernel.path, std::nullopt, full, m);
      ASSERT_TRUE(picked.ok()) << picked.status();
      EXPECT_FALSE((*picked)->variant) << kernel.name << " m=" << m;
    }
    // Forcing the variant's ISA gives the dispatched kernel it is compared with.
    absl::StatusOr<const Microkernel*> twin = SelectMicrokernel(kernel.path, kernel.isa, full);
    ASSERT_TRUE(twin.ok()) << twin.status();
    EXPECT_FALSE((*twin)->variant);
    EXPECT_EQ((*twin)->min_m, kernel.min_m) << kernel.name;
  }
  EXPECT_GT(variants, 0);
}

TEST(MicrokernelTableTest, ForcingAnIsaTheCpuLacksIsAnError) {
  EXPECT_THAT(SelectMicrokernel(GemmPath::kInt4W4A8, Isa::kAmx, Cpu(true, true, false)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("amx")));
  EXPECT_THAT(ParseIsa("sse9"), StatusIs(absl::StatusCode::kInvalidArgument,
                                         AllOf(HasSubstr("sse9"), HasSubstr("avx512"))));
  EXPECT_THAT(ParsePath("w2a2"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("w4a8")));
}

TEST(MicrokernelTableTest, EnvironmentVariableForcesAnIsa) {
  setenv("FP4MOE_ISA", "scalar", 1);
  absl::StatusOr<const Microkernel*> k =
      SelectMicrokernel(GemmPath::kFp4W4A8, std::nullopt, Cpu(true, true, true));
  ASSERT_TRUE(k.ok());
  EXPECT_EQ((*k)->isa, Isa::kScalar);
  setenv("FP4MOE_ISA", "turbo", 1);
  EXPECT_THAT(SelectMicrokernel(GemmPath::kFp4W4A8, std::nullopt, Cpu(true, true, true)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("FP4MOE_ISA")));
  unsetenv("FP4MOE_ISA");
}

}  // namespace
}  // namespace fp4moe::kernels
