#ifndef FP4MOE_EXPERIMENTS_REPORT_FILES_H_
#define FP4MOE_EXPERIMENTS_REPORT_FILES_H_

// What compare and merge both write after the rows: so that merged shards give the same files.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "experiments/report_writer.h"
#include "files/output_paths.h"
#include "files/output_set.h"

namespace fp4moe::experiments {

// A new file of `outputs` for `path`, its missing directories created with it.
absl::StatusOr<files::OutputFile*> CreateOutputFile(files::OutputSet& outputs,
                                                    const std::string& path);

// Every file WriteReportFiles(rows, markdown, plot_dir, json) may write, whatever the rows, for
// files::CheckOutputPaths: the report (under `markdown_label`), each possible plot file and the
// JSON (under --json).
std::vector<files::NamedPath> ReportFilePaths(const std::string& markdown_label,
                                              const std::string& markdown,
                                              const std::string& plot_dir,
                                              const std::string& json);

// The plots into plot_dir (skipped, saying so, where gnuplot is missing), the Markdown report
// linking them and the rows as JSON (JsonReport), as files of `outputs` (in place once it
// commits); an empty path skips that output. Returns a line per output saying where it goes, to
// print once committed.
absl::StatusOr<std::vector<std::string>> WriteReportFiles(const std::vector<ResultRow>& rows,
                                                          const std::string& markdown,
                                                          const std::string& plot_dir,
                                                          const std::string& json,
                                                          files::OutputSet& outputs);

}  // namespace fp4moe::experiments

#endif  // FP4MOE_EXPERIMENTS_REPORT_FILES_H_
