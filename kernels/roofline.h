#ifndef FP4MOE_KERNELS_ROOFLINE_H_
#define FP4MOE_KERNELS_ROOFLINE_H_

#include <cstdint>

#include "kernels/microkernel.h"

namespace fp4moe::kernels {

// Peak arithmetic rates (operations per second, one multiply-add = 2) of the whole machine for
// each kind of product. kernels/peak_probe.h measures those of the ISAs the machine has (the
// benchmarks and sweeps use that); these defaults, from one benchmark Xeon, stand only for an
// ISA it lacks, whose kernels run emulated, and scalar code's is nominal.
struct PeakRates {
  double amx_int8 = 28e12;
  double amx_bf16 = 14e12;
  double avx512_int8 = 8e12;  // vpdpbusd
  double avx512_bf16 = 4e12;  // vdpbf16ps
  double avx2_int8 = 2e12;    // vpmaddubsw pairs and vpmaddwd, as the AVX2 int8 kernels multiply
  double avx2_f32 = 2e12;     // FMA, which the AVX2 W4A16 kernels multiply with
  double scalar = 0.1e12;
};

// The rate that bounds `isa` running `path` (the W4A4 lookup path counts as int8; W4A16 on AVX2
// as FP32 FMAs).
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
