#include "benchmarks/benchmark_helpers.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "io/sizes.h"
#include "kernels/roofline.h"
#include "moe/moe_config.h"

namespace fp4moe::kernels {

void SetRooflineCounters(benchmark::State& state, double bytes, double ops, double bandwidth,
                         double peak) {
  using benchmark::Counter;
  state.counters["GFLOP"] = Counter(ops * 1e-9, Counter::kIsIterationInvariantRate);
  state.counters["GB"] = Counter(bytes * 1e-9, Counter::kIsIterationInvariantRate);
  const Roofline roof = RooflineOf(bytes, bandwidth, ops, peak, 1.0);
  state.counters["mem_ms"] = roof.memory_seconds * 1e3;
  state.counters["cmp_ms"] = roof.compute_seconds * 1e3;
  // roof = max(mem, cmp) / measured time: a rate counter of max(mem, cmp) seconds per iteration.
  state.counters["roof"] = Counter(std::max(roof.memory_seconds, roof.compute_seconds),
                                   Counter::kIsIterationInvariantRate);
}

absl::StatusOr<std::vector<int64_t>> PositiveIntegers(std::string_view what,
                                                      const std::vector<std::string>& texts) {
  std::vector<int64_t> values;
  for (const std::string& text : texts) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(text, &value) || value <= 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s '%s' is not a positive integer", what, text));
    }
    values.push_back(value);
  }
  return values;
}

absl::Status CheckFlagRange(std::string_view flag, int64_t value, int64_t min, int64_t max) {
  if (value >= min && value <= max) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrFormat("--%s=%d is out of range: must be in [%d, %d]", flag, value, min, max));
}

absl::Status CheckFitsMemory(std::string_view what, std::initializer_list<int64_t> factors,
                             int64_t element_bytes) {
  const std::optional<int64_t> count = io::CheckedProduct(std::vector<int64_t>(factors));
  if (!count) return absl::InvalidArgumentError(absl::StrFormat("%s: overflows 64 bits", what));
  if (absl::Status s = io::CheckFitsMemory(what, *count, element_bytes); !s.ok()) {
    return absl::InvalidArgumentError(s.message());
  }
  return absl::OkStatus();
}

absl::Status CheckCommonFlagsAndSetThreads(int threads, int64_t stream_bytes,
                                           int64_t probe_bytes) {
  if (absl::Status s = CheckFlagRange("threads", threads, 0, moe::kMaxThreads); !s.ok()) return s;
  if (absl::Status s = CheckFlagRange("stream_bytes", stream_bytes, 0, INT64_MAX); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckFlagRange("bandwidth_probe_bytes", probe_bytes, 1, INT64_MAX);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckFitsMemory("--stream_bytes", {stream_bytes}, 1); !s.ok()) return s;
  if (absl::Status s = CheckFitsMemory("--bandwidth_probe_bytes", {probe_bytes}, 1); !s.ok()) {
    return s;
  }
  if (threads > 0) omp_set_num_threads(threads);
  return absl::OkStatus();
}

absl::Status CheckBenchmarkRepetitions(int argc, char** argv) {
  constexpr std::string_view kFlag = "--benchmark_repetitions=";
  std::optional<std::string> given;
  std::string source;
  if (const char* env = std::getenv("BENCHMARK_REPETITIONS")) {
    given = env;
    source = "$BENCHMARK_REPETITIONS";
  }
  for (int i = 1; i < argc; ++i) {
    if (const std::string_view arg = argv[i]; arg.substr(0, kFlag.size()) == kFlag) {
      given = std::string(arg.substr(kFlag.size()));
      source = "--benchmark_repetitions";
    }
  }
  if (!given) return absl::OkStatus();
  // More than a thousand runs of every case is a typo, not a measurement (and keeps every
  // run's result in memory).
  int64_t repetitions = 0;
  if (!absl::SimpleAtoi(*given, &repetitions) || repetitions < 1 || repetitions > 1000) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s=%s is out of range: must be an integer in [1, 1000]", source, *given));
  }
  return absl::OkStatus();
}

}  // namespace fp4moe::kernels
