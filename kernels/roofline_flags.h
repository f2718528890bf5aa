#ifndef FP4MOE_KERNELS_ROOFLINE_FLAGS_H_
#define FP4MOE_KERNELS_ROOFLINE_FLAGS_H_

#include "kernels/roofline.h"

namespace fp4moe::kernels {

// The peak rates given by the --peak_* flags (defaults: PeakRates'), for the benchmarks'
// rooflines.
PeakRates PeakRatesFromFlags();

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_ROOFLINE_FLAGS_H_
