#ifndef FP4MOE_KERNELS_PEAK_PROBE_H_
#define FP4MOE_KERNELS_PEAK_PROBE_H_

#include <string>

#include "kernels/roofline.h"

namespace fp4moe::kernels {

// The peak rates of this machine for the rooflines, measured now for each ISA it has, since
// machines of one kind differ (the benchmark Xeons ran BF16 tile products at 13.4 and 23.4
// TFLOPS on 16 threads) and an issue width is not a rate: every OpenMP thread runs independent
// chains of the ISA's product at once (kernels/probe_chains.h), best of several passes after a
// warm-up. AMX: 2 x 2 blocks of tile products on operands already in tiles; AVX-512: vpdpbusd
// and vdpbf16ps; AVX2: the int8 kernels' vpmaddubsw and vpmaddwd, and FMA. PeakRates' figures
// stand for the ISAs it lacks. Takes about 0.3 s on the Xeon.
PeakRates MeasurePeakRates();

// The AMX BF16 blocks and the AVX2 FMA chains on every thread in one common window of 0.2 s
// (RatesInOneWindow), as a parallel kernel gets them: what the threads deliver together and how
// unevenly (the lent Xeon's vCPUs differ by up to 2x within one window, which an equal split of
// the work between threads pays in full). A line for the benchmarks to print.
std::string WindowRatesLine();

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_PEAK_PROBE_H_
