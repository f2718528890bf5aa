#include "kernels/bandwidth_probe.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "kernels/aligned_buffer.h"
#include "kernels/cpu_features.h"
#include "kernels/read_streams.h"

namespace fp4moe::kernels {
namespace {

constexpr int64_t kChunk = int64_t{1} << 20;

// The XOR of the words of [data, data + bytes) in one sequential stream, as the compiler
// vectorizes it for the portable build.
uint64_t ReadOneStream(const uint8_t* data, int64_t bytes, int /*streams*/) {
  const auto* words = reinterpret_cast<const uint64_t*>(data);
  uint64_t sum = 0;
  for (int64_t i = 0; i < bytes / 8; ++i) sum ^= words[i];
  return sum;
}

struct ReadKernel {
  const char* isa;
  uint64_t (*read)(const uint8_t*, int64_t, int);
  int streams;
};

std::vector<ReadKernel> ReadKernelsOfThisCpu() {
  std::vector<ReadKernel> kernels = {{"plain", ReadOneStream, 1}};
  const CpuFeatures& cpu = DetectedCpuFeatures();
  if (cpu.avx2) {
    kernels.push_back({"avx2", ReadStreamsAvx2, 4});
    kernels.push_back({"avx2", ReadStreamsAvx2, 8});
  }
  if (cpu.avx512) {
    kernels.push_back({"avx512", ReadStreamsAvx512, 8});
    kernels.push_back({"avx512", ReadStreamsAvx512, 16});
  }
  return kernels;
}

}  // namespace

ReadBandwidth MeasureReadBandwidth(int64_t bytes) {
  const int64_t chunks = std::max<int64_t>(1, bytes / kChunk);
  bytes = chunks * kChunk;
  AlignedBuffer buffer(bytes);  // zeroed: every page is backed before the reads
  uint8_t* data = buffer.data();
  ReadBandwidth best;
  uint64_t sink = 0;
  const std::vector<ReadKernel> kernels = ReadKernelsOfThisCpu();
  for (int pass = 0; pass < 3; ++pass) {
    for (const ReadKernel& kernel : kernels) {
      const auto start = std::chrono::steady_clock::now();
      uint64_t sum = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(^ : sum)
      for (int64_t chunk = 0; chunk < chunks; ++chunk) {
        sum ^= kernel.read(data + chunk * kChunk, kChunk, kernel.streams);
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      sink ^= sum;
      if (bytes / seconds > best.bytes_per_second) {
        best.bytes_per_second = bytes / seconds;
        best.kernel = kernel.streams == 1
                          ? absl::StrFormat("%s x 1 stream", kernel.isa)
                          : absl::StrFormat("%s x %d streams", kernel.isa, kernel.streams);
      }
    }
  }
  // Keep the reads observable so the compiler cannot drop them.
  if (sink == 0x9e3779b97f4a7c15ull) std::memset(data, 0, 8);
  return best;
}

}  // namespace fp4moe::kernels
