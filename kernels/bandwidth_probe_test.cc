#include "kernels/bandwidth_probe.h"

#include <cmath>
#include <cstdint>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/aligned_buffer.h"
#include "kernels/cpu_features.h"
#include "kernels/read_streams.h"

namespace fp4moe::kernels {
namespace {

using ::testing::MatchesRegex;

// Random words and their XOR, the result every read kernel must give when it reads every byte.
class ReadStreamsTest : public ::testing::Test {
 protected:
  static constexpr int64_t kBytes = 64 * 1024;
  void SetUp() override {
    std::mt19937_64 random(7);
    auto* words = reinterpret_cast<uint64_t*>(buffer_.data());
    for (int64_t i = 0; i < kBytes / 8; ++i) {
      words[i] = random();
      xor_ ^= words[i];
    }
  }
  AlignedBuffer buffer_{kBytes};
  uint64_t xor_ = 0;
};

TEST_F(ReadStreamsTest, EveryKernelReadsEveryWord) {
  for (const int streams : {1, 2, 4, 8, 16}) {
    SCOPED_TRACE(streams);
    EXPECT_EQ(ReadStreamsAvx512_emulated(buffer_.data(), kBytes, streams), xor_);
    if (DetectedCpuFeatures().avx2) {
      EXPECT_EQ(ReadStreamsAvx2(buffer_.data(), kBytes, streams), xor_);
    }
    if (DetectedCpuFeatures().avx512) {
      EXPECT_EQ(ReadStreamsAvx512(buffer_.data(), kBytes, streams), xor_);
    }
  }
}

// A kernel that skipped a line would not see its change.
TEST_F(ReadStreamsTest, EveryLineCounts) {
  for (const int64_t line : {int64_t{0}, kBytes / 2 - 64, kBytes - 64}) {
    buffer_.data()[line + 9] ^= 1;
    EXPECT_NE(ReadStreamsAvx512_emulated(buffer_.data(), kBytes, 8), xor_) << line;
    if (DetectedCpuFeatures().avx2) {
      EXPECT_NE(ReadStreamsAvx2(buffer_.data(), kBytes, 8), xor_) << line;
    }
    buffer_.data()[line + 9] ^= 1;
  }
}

TEST(BandwidthProbeTest, NamesTheKernelThatReachedIt) {
  const ReadBandwidth probe = MeasureReadBandwidth(int64_t{8} << 20);
  EXPECT_TRUE(std::isfinite(probe.bytes_per_second));
  EXPECT_GT(probe.bytes_per_second, 0);
  EXPECT_THAT(probe.kernel, MatchesRegex("(plain x 1 stream|avx2 x [48] streams|avx512 x (8|16) "
                                         "streams)"));
}

}  // namespace
}  // namespace fp4moe::kernels
