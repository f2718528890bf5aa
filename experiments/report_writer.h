#ifndef FP4MOE_EXPERIMENTS_REPORT_WRITER_H_
#define FP4MOE_EXPERIMENTS_REPORT_WRITER_H_

// One result row per sweep case, and the forms it is written in: CSV (written row by row,
// the record merge.cc reads back), a Markdown report and the stdout table. The report is a
// function of the rows alone, so that merged shards give exactly the report of one run.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fp4moe::experiments {

inline constexpr double kNotMeasured = std::numeric_limits<double>::quiet_NaN();

struct ResultRow {
  int64_t case_index = 0;
  int64_t case_count = 0;  // cases in the whole sweep, all shards together
  int64_t shard_index = 0, shard_count = 1;  // the run's shard: case_index % count == index
  std::string config_hash;  // ConfigHash of the sweep, so that merge joins one config's shards
  std::string sweep;
  std::string measure;     // gemm, moe
  std::string model;
  int64_t hidden = 0, intermediate = 0;
  int64_t experts = 0;     // MoE: experts built; GEMM: 0
  int64_t top_k = 0;
  std::string projection;  // GEMM: up, down; MoE: layer
  std::string distribution;
  uint64_t seed = 0;
  std::string format;      // a weight format, or float32 for the unquantized baseline
  int64_t group_size = 0;
  std::string path;        // the path run (auto resolved), or eigen
  std::string kernel;
  int64_t qlen = 0;
  int64_t threads = 0;
  int64_t tp_parts = 1;
  double bits_per_weight = kNotMeasured;
  // GEMM: dequantized weights against the float weights.
  double weight_rel_err = kNotMeasured, weight_cosine = kNotMeasured;
  // The output against the Eigen double reference on the float weights and activations.
  double rel_err = kNotMeasured, max_abs_err = kNotMeasured, cosine = kNotMeasured;
  double time_median_us = kNotMeasured, time_min_us = kNotMeasured, time_max_us = kNotMeasured;
  // The first and third quartiles of the repetitions' times: how far the median can be trusted.
  double time_q1_us = kNotMeasured, time_q3_us = kNotMeasured;
  double tokens_per_s = kNotMeasured, gb_per_s = kNotMeasured, tops = kNotMeasured;
  double roofline_fraction = kNotMeasured;  // of the larger roof; 1 = on the roof
  std::string bound;                        // memory or compute (the larger roof)
  double bandwidth_gb_per_s = kNotMeasured;  // the probe's read bandwidth
  std::string cpu;        // host name and ISA levels: merged speed rows must share it
  std::string cpu_model;  // the CPU's model name
  std::string isa;        // the ISA of each kernel that ran, joined by +; empty for Eigen
  int64_t working_set_bytes = 0;  // the weight bytes the timed calls cycle through
  int64_t l3_bytes = 0;           // the machine's L3 cache (0: unknown)
  std::string note;  // why a case was skipped
};

std::string CsvHeader();
std::string CsvLine(const ResultRow& row);  // no newline
// Header line first; `file` labels errors.
absl::StatusOr<std::vector<ResultRow>> ParseCsv(std::string_view text, std::string_view file);
// The row as it reads back from its CSV line (numbers at CSV precision): what reports use.
ResultRow RoundTripped(const ResultRow& row);

// One CSV column of a row, for writers of other forms (JSON): its name, its CSV text, and
// whether that text is a number (an empty one: not measured).
struct RowField {
  const char* name;
  std::string text;
  bool number;
};
std::vector<RowField> RowFields(const ResultRow& row);

// `plot_links`: PNG paths to show in the report (relative to it); may be empty.
std::string MarkdownReport(const std::vector<ResultRow>& rows,
                           const std::vector<std::string>& plot_links);

std::string TextTableHeader();
std::string TextTableLine(const ResultRow& row);

}  // namespace fp4moe::experiments

#endif  // FP4MOE_EXPERIMENTS_REPORT_WRITER_H_
