#ifndef FP4MOE_EXPERIMENTS_PLOTS_H_
#define FP4MOE_EXPERIMENTS_PLOTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "experiments/report_writer.h"

namespace fp4moe::experiments {

// Whether an executable `gnuplot` is on $PATH (searched here: no shell is started).
bool GnuplotAvailable();

// Draws with gnuplot, into `dir` (created if missing), the PNGs the rows have data for:
// accuracy_vs_speed.png (output error against tokens/s, a series per path),
// speed_vs_qlen.png (tokens/s against qlen, a series per measure/model/format/path) and
// error_vs_distribution.png (mean output error per weight distribution, a bar per format and
// path). Returns the file names written; the data (.dat) and script (.gp) stay beside them.
// gnuplot is started without a shell, in `dir`, and the scripts name their files without a
// directory (`cd dir && gnuplot NAME.gp` redraws one), so no character of `dir` is ever syntax.
absl::StatusOr<std::vector<std::string>> WritePlots(const std::vector<ResultRow>& rows,
                                                    const std::string& dir);

// The PNG names WritePlots would write for `rows`, without drawing (for the report's links).
std::vector<std::string> PlotNames(const std::vector<ResultRow>& rows);

// Every file name WritePlots can write into its directory, whatever the rows (NAME.png,
// NAME.dat and NAME.gp of each plot): what the tools check before they write anything, when
// the rows are not known yet.
std::vector<std::string> PlotFileNames();

}  // namespace fp4moe::experiments

#endif  // FP4MOE_EXPERIMENTS_PLOTS_H_
