#ifndef FP4MOE_KERNELS_BANDWIDTH_PROBE_H_
#define FP4MOE_KERNELS_BANDWIDTH_PROBE_H_

#include <cstdint>
#include <string>

namespace fp4moe::kernels {

struct ReadBandwidth {
  double bytes_per_second = 0;
  std::string kernel;  // the read kernel that reached it, e.g. "avx512 x 8 streams"
};

// Read bandwidth of this machine, the memory roof of the benchmarks: all OpenMP threads read
// `bytes` of memory (pick well above the last-level cache) in 1 MiB chunks taken in turn, so
// that a thread the host slows down reads fewer of them instead of holding up the end, as the
// layer's work stealing lets it. The best of a few passes of several read kernels (one stream;
// 4 to 16 prefetched streams per thread with AVX2 and AVX-512, see kernels/read_streams.h), so
// that the kernels' own streaming is not measured against a probe that reads slower than the
// DRAM allows.
ReadBandwidth MeasureReadBandwidth(int64_t bytes);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_BANDWIDTH_PROBE_H_
