#ifndef FP4MOE_EXPERIMENTS_ROW_FACTS_H_
#define FP4MOE_EXPERIMENTS_ROW_FACTS_H_

// What the reports (Markdown, plots, JSON) derive from result rows beyond their columns: one
// definition each, so that the summary, the plots and the raw tables agree.

#include <string>
#include <vector>

#include "experiments/report_writer.h"

namespace fp4moe::experiments {

// The format as reports group it: INT4 K2 with its group size ("int4_k2(G=32)"), since that
// changes its accuracy and bits per weight; other formats have one block size.
std::string FormatLabel(const ResultRow& row);

// Run, not skipped (a skipped case has a note and no figures).
bool Measured(const ResultRow& row);
// Measured with a speed (sweeps with speed: false time nothing).
bool Timed(const ResultRow& row);

// Timings whose repetitions spread more than this (interquartile range over the median) are
// noisy: flagged in the tables and left out of the summary. The quartiles, unlike max - min,
// ignore the odd preempted repetition, which the median also ignores.
inline constexpr double kNoisyTimingThreshold = 0.10;
// (q3 - q1) / median of the repetitions' times; NaN where the row was not timed.
double TimingNoise(const ResultRow& row);
bool NoisyTiming(const ResultRow& row);

// Where the weights of timed calls come from: their working set against the L3 cache.
enum class Regime { kUnknown, kCache, kDram };
Regime RegimeOf(const ResultRow& row);

// "1.5 MiB"
std::string ByteSize(int64_t bytes);

// For titles: the CPU model(s) of the rows and the ISAs their kernels used, e.g.
// "AMD EPYC, avx2 kernels".
std::string MachineLabel(const std::vector<const ResultRow*>& rows);
// For titles: whether the timed rows' weights stayed in cache, e.g. "weights in cache (working
// set 2.1-4.5 MiB, L3 8.0 MiB)"; empty where no row was timed.
std::string RegimeLabel(const std::vector<const ResultRow*>& rows);

// The rows, as pointers (what the label functions take).
std::vector<const ResultRow*> Pointers(const std::vector<ResultRow>& rows);

}  // namespace fp4moe::experiments

#endif  // FP4MOE_EXPERIMENTS_ROW_FACTS_H_
