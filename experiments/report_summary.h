#ifndef FP4MOE_EXPERIMENTS_REPORT_SUMMARY_H_
#define FP4MOE_EXPERIMENTS_REPORT_SUMMARY_H_

// The summary that opens the Markdown report and answers "which format and path is more
// accurate and faster": per setting, one line per format and path.

#include <string>
#include <utility>
#include <vector>

#include "experiments/report_writer.h"

namespace fp4moe::experiments {

// For each setting (measure, model, threads, TP parts) a table of format x path: bits per
// weight, mean output error, and tokens/s per qlen (geometric mean over the cases at that
// qlen), with the Pareto front of error against speed at each qlen in bold. A qlen whose
// cases include a noisy timing (NoisyTiming) shows "noisy" and is left out of the front.
std::string MarkdownSummary(const std::vector<ResultRow>& rows);

// Which points (error, speed) no other point beats: one with no more error and no less speed,
// and strictly better in one. A point with a NaN is never on the front and beats none.
std::vector<bool> ParetoFront(const std::vector<std::pair<double, double>>& error_speed);

}  // namespace fp4moe::experiments

#endif  // FP4MOE_EXPERIMENTS_REPORT_SUMMARY_H_
