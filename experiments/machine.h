#ifndef FP4MOE_EXPERIMENTS_MACHINE_H_
#define FP4MOE_EXPERIMENTS_MACHINE_H_

// What the rows of a sweep record about the machine they ran on: merged speed figures must come
// from one machine, and the reports name its CPU and whether the weights stayed in its cache.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fp4moe::experiments {

// Host name and the ISA levels this process may use, e.g. "box (avx2=1 avx512=0 amx=0)".
std::string HostAndFeatures();

// The CPU's model name from /proc/cpuinfo ("unknown CPU" where it gives none).
std::string CpuModelName();

// The size of the last-level (L3) cache the first CPU shares, from sysfs, else from sysconf;
// 0 where neither tells.
int64_t L3CacheBytes();

// The first "model name" value of /proc/cpuinfo's text, if any.
std::optional<std::string> ModelNameOf(std::string_view cpuinfo);

// A sysfs cache size ("8192K", "32M", "1024"), in bytes.
std::optional<int64_t> ParseCacheSize(std::string_view text);

}  // namespace fp4moe::experiments

#endif  // FP4MOE_EXPERIMENTS_MACHINE_H_
