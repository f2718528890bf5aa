#ifndef FP4MOE_EXPERIMENTS_REPORT_FILES_H_
#define FP4MOE_EXPERIMENTS_REPORT_FILES_H_

// What compare and merge both write after the rows: so that merged shards give the same files.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "experiments/report_writer.h"
#include "files/output_paths.h"

namespace fp4moe::experiments {

// `bazel run` starts binaries in their runfiles: a relative path means the directory the user
// ran bazel from ($BUILD_WORKING_DIRECTORY).
std::string UserPath(const std::string& path);

absl::Status EnsureParentDirectory(const std::string& path);

// Every file WriteReportFiles(rows, markdown, plot_dir, json) may write, whatever the rows, for
// files::CheckOutputPaths: the report (under `markdown_label`), each possible plot file and the
// JSON (under --json).
std::vector<files::NamedPath> ReportFilePaths(const std::string& markdown_label,
                                              const std::string& markdown,
                                              const std::string& plot_dir,
                                              const std::string& json);

// The plots into plot_dir (skipped, saying so, where gnuplot is missing), the Markdown report
// linking them and the rows as JSON (JsonReport); an empty path skips that output. Prints where
// each went.
absl::Status WriteReportFiles(const std::vector<ResultRow>& rows, const std::string& markdown,
                              const std::string& plot_dir, const std::string& json);

}  // namespace fp4moe::experiments

#endif  // FP4MOE_EXPERIMENTS_REPORT_FILES_H_
