#ifndef FP4MOE_EXPERIMENTS_PLOTS_H_
#define FP4MOE_EXPERIMENTS_PLOTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "experiments/report_writer.h"

namespace fp4moe::experiments {

// One plot's files: NAME.dat (its data) and NAME.gp (the gnuplot script that draws NAME.png
// from it, naming both without a directory).
struct PlotFiles {
  std::string name;  // without extension
  std::string data;
  std::string script;
};

// The plots the rows have data for (see WritePlots), without drawing them. Every case is a
// point of its own: colour is the weight format (INT4 K2 per group size), the marker's shape
// the path, open for a down projection and filled otherwise; cases of one format and path are
// labelled (or, in speed_vs_qlen, each a line titled) with what else sets them apart. Titles
// name the CPU model and the ISAs of the kernels, and speed panels whether the weights stayed
// in the L3 cache. Panels split by measure and model.
std::vector<PlotFiles> BuildPlots(const std::vector<ResultRow>& rows);

// Whether an executable `gnuplot` is on $PATH (searched here: no shell is started).
bool GnuplotAvailable();

// Draws with gnuplot, into `dir` (created if missing), the PNGs the rows have data for:
// accuracy_vs_speed.png (output error against tokens/s), speed_vs_qlen.png (tokens/s against
// qlen, where the rows have two qlens or more) and error_vs_distribution.png (output error per
// weight distribution). Returns the file names written; the data (.dat) and script (.gp) stay
// beside them.
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
