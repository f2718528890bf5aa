#ifndef FP4MOE_KERNELS_ROOFLINE_H_
#define FP4MOE_KERNELS_ROOFLINE_H_

#include <cstdint>

#include "kernels/microkernel.h"

namespace fp4moe::kernels {

// Peak arithmetic rates (operations per second, one multiply-add = 2) of the whole machine for
// each kind of product. The defaults are figures of one benchmark Xeon (AMX, measured there;
// kernels/peak_probe.h measures them on the machine at hand, and the benchmarks use that) or
// derived from its issue width (AVX-512: 2 x 512-bit ports at ~2 GHz on 16 cores); benchmarks
// let the user override them.
struct PeakRates {
  double amx_int8 = 28e12;
  double amx_bf16 = 14e12;
  double avx512_int8 = 8e12;   // vpdpbusd: 2 ports x 64 MACs x 2 ops x 2 GHz x 16 cores
  double avx512_bf16 = 4e12;   // vdpbf16ps: 2 ports x 32 MACs x 2 ops x 2 GHz x 16 cores
  double avx2_int8 = 2e12;     // vpmaddubsw/vpmaddwd pairs
  double scalar = 0.1e12;
};

// The rate that bounds `isa` running `path` (the W4A4 lookup path counts as int8).
double PeakFor(const PeakRates& peaks, GemmPath path, Isa isa);

// Where a measured time sits against the two roofs: the time the weight bytes need at the
// measured bandwidth, the time the operations need at the peak, and the fraction of the larger
// one achieved (1 = on the roof).
struct Roofline {
  double memory_seconds;
  double compute_seconds;
  double fraction;
  bool memory_bound() const { return memory_seconds >= compute_seconds; }
};

Roofline RooflineOf(double bytes, double bandwidth, double ops, double peak, double seconds);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_ROOFLINE_H_
