#ifndef FP4MOE_KERNELS_PEAK_PROBE_H_
#define FP4MOE_KERNELS_PEAK_PROBE_H_

#include "kernels/roofline.h"

namespace fp4moe::kernels {

// The peak rates of this machine for the rooflines: where the CPU has AMX, its INT8 and BF16
// tile rates measured now (all OpenMP threads running 2 x 2 blocks of tile products on operands
// already in tiles, best of several passes after a warm-up), since machines of one kind differ (the benchmark
// Xeons ran BF16 tile products at 13.4 and 23.4 TFLOPS on 16 threads); the other rates are
// PeakRates' figures. Takes about 0.3 s there.
PeakRates MeasurePeakRates();

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_PEAK_PROBE_H_
