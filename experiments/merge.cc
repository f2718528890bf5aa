// Joins the CSVs of a sharded sweep (compare --shard_index/--shard_count) into the CSV, Markdown
// report and plots one unsharded run would have written: rows in case order. Only a whole set of
// one config's shards, each given once (experiments/shard_merge.h); all the files or none.
//
//   bazel run //experiments:merge -- --csv=all.csv --markdown=report.md --plot_dir=plots
//       out.shard-0-of-2.csv out.shard-1-of-2.csv
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "experiments/report_files.h"
#include "experiments/report_writer.h"
#include "experiments/shard_merge.h"
#include "files/input_files.h"
#include "files/interrupt_cleanup.h"
#include "files/out_of_memory.h"
#include "files/output_paths.h"
#include "files/output_set.h"
#include "files/user_paths.h"

ABSL_FLAG(std::string, csv, "", "merged CSV to write");
ABSL_FLAG(std::string, markdown, "", "Markdown report to write");
ABSL_FLAG(std::string, plot_dir, "", "directory for the plots");
ABSL_FLAG(std::string, json, "", "the rows as JSON (Google Benchmark's layout)");

namespace fp4moe::experiments {
namespace {

int Merge(const std::vector<std::string>& inputs) {
  if (inputs.empty()) {
    std::fprintf(stderr, "merge: give the shards' CSV files\n");
    return 1;
  }
  const std::string csv = files::UserPath(absl::GetFlag(FLAGS_csv));
  const std::string markdown = files::UserPath(absl::GetFlag(FLAGS_markdown));
  const std::string plot_dir = files::UserPath(absl::GetFlag(FLAGS_plot_dir));
  const std::string json = files::UserPath(absl::GetFlag(FLAGS_json));
  std::vector<files::NamedPath> shard_paths;
  for (const std::string& input : inputs) {
    shard_paths.push_back({"shard CSV", files::UserPath(input)});
  }
  std::vector<files::NamedPath> outputs = ReportFilePaths("--markdown", markdown, plot_dir, json);
  outputs.insert(outputs.begin(), {"--csv", csv});
  if (absl::Status s = files::CheckOutputPaths(shard_paths, outputs); !s.ok()) {
    std::fprintf(stderr, "merge: %s\n", std::string(s.message()).c_str());
    return 1;
  }

  std::vector<ShardCsv> shards;
  for (const std::string& input : inputs) {
    // A shard of the largest ready sweep is tens of kilobytes; 256 MB is a wrong file.
    absl::StatusOr<std::string> text =
        files::ReadRegularFile(files::UserPath(input), "shard CSV", int64_t{256} << 20);
    absl::StatusOr<std::vector<ResultRow>> rows =
        text.ok() ? ParseCsv(*text, input) : absl::StatusOr<std::vector<ResultRow>>(text.status());
    if (!rows.ok()) {
      std::fprintf(stderr, "merge: %s\n", std::string(rows.status().message()).c_str());
      return 1;
    }
    shards.push_back({input, *std::move(rows)});
  }
  absl::StatusOr<std::vector<ResultRow>> rows = MergeShards(shards);
  if (!rows.ok()) {
    std::fprintf(stderr, "merge: %s\n", std::string(rows.status().message()).c_str());
    return 1;
  }
  if (!rows->empty() && static_cast<int64_t>(rows->size()) != rows->front().case_count) {
    std::printf("merge: %zu of %lld cases present (a shard stopped early)\n", rows->size(),
                static_cast<long long>(rows->front().case_count));
  }
  // All the files or none (files::OutputSet); a Ctrl-C removes them unless it comes during the
  // final renames, which it waits for (files/interrupt_cleanup.h).
  files::OutputSet output_files;
  absl::Status status;
  if (!csv.empty()) {
    std::string text = CsvHeader() + "\n";
    for (const ResultRow& row : *rows) text += CsvLine(row) + "\n";
    absl::StatusOr<files::OutputFile*> file = CreateOutputFile(output_files, csv);
    status = file.ok() ? (*file)->Write(text) : file.status();
  }
  absl::StatusOr<std::vector<std::string>> written =
      status.ok() ? WriteReportFiles(*rows, markdown, plot_dir, json, output_files)
                  : absl::StatusOr<std::vector<std::string>>(status);
  if (written.ok()) status = output_files.Commit();
  if (!written.ok() || !status.ok()) {
    std::fprintf(stderr, "merge: %s; no file was written\n",
                 std::string((written.ok() ? status : written.status()).message()).c_str());
    return 1;
  }
  if (!csv.empty()) std::printf("csv: %s (%zu rows)\n", csv.c_str(), rows->size());
  for (const std::string& line : *written) std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace
}  // namespace fp4moe::experiments

int main(int argc, char** argv) {
  fp4moe::files::RemoveTemporariesOnInterrupt("merge");
  absl::SetProgramUsageMessage("Joins shard CSVs of //experiments:compare into one report.");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  return fp4moe::files::ExitCodeCatchingOutOfMemory("merge", [&] {
    return fp4moe::experiments::Merge(std::vector<std::string>(args.begin() + 1, args.end()));
  });
}
