#ifndef FP4MOE_BENCHMARKS_ROOFLINE_FLAGS_H_
#define FP4MOE_BENCHMARKS_ROOFLINE_FLAGS_H_

#include <string>

#include "absl/status/status.h"
#include "kernels/roofline.h"

namespace fp4moe::kernels {

// The peak rates given by the --peak_* flags, for the benchmarks' rooflines: by default the AMX
// rates measured now (MeasurePeakRates) and PeakRates' other figures.
PeakRates PeakRatesFromFlags();

// InvalidArgument naming the first --peak_* flag that is not a rate in [1e9, 1e18] per second
// (0 also, for the AMX ones: measure it); NaN and inf are neither. Checked before measuring.
absl::Status CheckPeakRateFlags();

// One line for a benchmark's header: the AMX peaks of `peaks` and where they came from.
std::string PeakRatesLine(const PeakRates& peaks);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_BENCHMARKS_ROOFLINE_FLAGS_H_
