#include "benchmarks/amx_sequences.h"

#include <cstdint>
#include <cstring>
#include <random>

#include "quant/bf16.h"

namespace fp4moe::kernels {

void FillOperands(int fill, bool bf16, AlignedBuffer& operands) {
  auto* bytes = static_cast<uint8_t*>(operands.data());
  const int64_t size = operands.size();
  if (fill != 2) {
    std::memset(bytes, fill, size);
    return;
  }
  std::mt19937 random(7);
  if (!bf16) {
    for (int64_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(random());
    return;
  }
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  auto* halves = reinterpret_cast<uint16_t*>(bytes);
  for (int64_t i = 0; i < size / 2; ++i) halves[i] = FloatToBf16(value(random));
}

void SetProductCounters(benchmark::State& state, double ops_per_product) {
  const double products =
      static_cast<double>(state.iterations()) * kStepsPerIteration * kProductsPerStep;
  state.counters["TOPS"] =
      benchmark::Counter(products * ops_per_product * 1e-12, benchmark::Counter::kIsRate);
  state.counters["ns_per_product"] =
      benchmark::Counter(products * 1e-9, benchmark::Counter::kAvgThreadsRate |
                                              benchmark::Counter::kInvert);
}

void Threads(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2, 8, 16}) b->Threads(threads);
  b->UseRealTime();
}

}  // namespace fp4moe::kernels
