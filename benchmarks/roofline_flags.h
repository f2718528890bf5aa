#ifndef FP4MOE_BENCHMARKS_ROOFLINE_FLAGS_H_
#define FP4MOE_BENCHMARKS_ROOFLINE_FLAGS_H_

#include <string>

#include "absl/status/status.h"
#include "kernels/roofline.h"

namespace fp4moe::kernels {

// The peak rates for the benchmarks' rooflines: those measured now (MeasurePeakRates), each
// replaced by its --peak_* flag where one is given.
PeakRates PeakRatesFromFlags();

// InvalidArgument naming the first --peak_* flag that is not a rate in [1e9, 1e18] per second
// or 0 (measure it); NaN and inf are neither. Checked before measuring.
absl::Status CheckPeakRateFlags();

// One line for a benchmark's header: the peaks of `peaks` and where they came from.
std::string PeakRatesLine(const PeakRates& peaks);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_BENCHMARKS_ROOFLINE_FLAGS_H_
