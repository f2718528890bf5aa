#include "experiments/machine.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fp4moe::experiments {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

TEST(MachineTest, ModelNameIsTheFirstOneInCpuinfo) {
  EXPECT_THAT(ModelNameOf("processor\t: 0\nvendor_id\t: GenuineIntel\n"
                          "model name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t: fpu\n"
                          "model name\t: other\n"),
              Optional(std::string("Intel(R) Xeon(R) Platinum 8480+")));
  EXPECT_EQ(ModelNameOf("processor\t: 0\nmodel\t\t: 207\n"), std::nullopt);
  EXPECT_EQ(ModelNameOf("model name\t:   \n"), std::nullopt);
}

TEST(MachineTest, CacheSizesInSysfsUnits) {
  EXPECT_THAT(ParseCacheSize("8192K\n"), Optional(int64_t{8} << 20));
  EXPECT_THAT(ParseCacheSize("32M"), Optional(int64_t{32} << 20));
  EXPECT_THAT(ParseCacheSize("1024"), Optional(int64_t{1024}));
  EXPECT_EQ(ParseCacheSize(""), std::nullopt);
  EXPECT_EQ(ParseCacheSize("K"), std::nullopt);
  EXPECT_EQ(ParseCacheSize("-1K"), std::nullopt);
  EXPECT_EQ(ParseCacheSize("99999999999999999999K"), std::nullopt);
}

TEST(MachineTest, ThisMachineHasANameAndFeatures) {
  EXPECT_FALSE(CpuModelName().empty());
  EXPECT_THAT(HostAndFeatures(), HasSubstr("avx2="));
  EXPECT_GE(L3CacheBytes(), 0);
}

}  // namespace
}  // namespace fp4moe::experiments
