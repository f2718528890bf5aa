#ifndef FP4MOE_EXPERIMENTS_REPORT_JSON_H_
#define FP4MOE_EXPERIMENTS_REPORT_JSON_H_

// The rows as JSON for other tools, laid out as Google Benchmark's --benchmark_format=json
// output is: a "context" object about the run and the machine, and a "benchmarks" array.

#include <string>
#include <vector>

#include "experiments/report_writer.h"

namespace fp4moe::experiments {

// Each row is an object holding every CSV column under its CSV name (numbers as numbers, not
// measured as null) and Google Benchmark's fields where they apply: "name", "run_name",
// "run_type" ("iteration"), and for timed rows "real_time" (the median), "time_unit" ("us"),
// "items_per_second" (tokens) and "bytes_per_second" (weight bytes). A function of the rows
// alone, so that merged shards give the JSON of one run.
std::string JsonReport(const std::vector<ResultRow>& rows);

}  // namespace fp4moe::experiments

#endif  // FP4MOE_EXPERIMENTS_REPORT_JSON_H_
