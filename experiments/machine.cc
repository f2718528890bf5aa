#include "experiments/machine.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "kernels/cpu_features.h"

namespace fp4moe::experiments {
namespace {

std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string HostAndFeatures() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return absl::StrCat(host, " (", kernels::DetectedCpuFeatures().ToString(), ")");
}

std::optional<std::string> ModelNameOf(std::string_view cpuinfo) {
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(cpuinfo.data(), cpuinfo.size()), '\n')) {
    std::pair<absl::string_view, absl::string_view> key_value =
        absl::StrSplit(line, absl::MaxSplits(':', 1));
    if (absl::StripAsciiWhitespace(key_value.first) != "model name") continue;
    const absl::string_view value = absl::StripAsciiWhitespace(key_value.second);
    if (!value.empty()) return std::string(value);
  }
  return std::nullopt;
}

std::string CpuModelName() {
  const std::optional<std::string> cpuinfo = ReadSmallFile("/proc/cpuinfo");
  const std::optional<std::string> name = cpuinfo ? ModelNameOf(*cpuinfo) : std::nullopt;
  return name.value_or("unknown CPU");
}

std::optional<int64_t> ParseCacheSize(std::string_view text) {
  absl::string_view digits =
      absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size()));
  int64_t unit = 1;
  if (absl::ConsumeSuffix(&digits, "K")) {
    unit = int64_t{1} << 10;
  } else if (absl::ConsumeSuffix(&digits, "M")) {
    unit = int64_t{1} << 20;
  }
  int64_t value = 0;
  // Up to 2^40 units: any real cache, and no overflow.
  if (!absl::SimpleAtoi(digits, &value) || value < 0 || value > (int64_t{1} << 40)) {
    return std::nullopt;
  }
  return value * unit;
}

int64_t L3CacheBytes() {
  // sysfs names the cache this CPU shares (one CCX's on AMD), where sysconf may give the
  // whole package's.
  for (int index = 0; index < 16; ++index) {
    const std::string dir = absl::StrCat("/sys/devices/system/cpu/cpu0/cache/index", index, "/");
    const std::optional<std::string> level = ReadSmallFile(dir + "level");
    if (!level) break;
    if (absl::StripAsciiWhitespace(*level) != "3") continue;
    const std::optional<std::string> size = ReadSmallFile(dir + "size");
    if (std::optional<int64_t> bytes = size ? ParseCacheSize(*size) : std::nullopt) return *bytes;
  }
  const long bytes = sysconf(_SC_LEVEL3_CACHE_SIZE);
  return bytes > 0 ? bytes : 0;
}

}  // namespace fp4moe::experiments
