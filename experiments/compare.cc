// fp4moe's main comparison: which 4-bit format and GEMM path, how accurate, how fast, on this
// machine. Runs a sweep (experiments/sweep.proto) given by --config; without it, the quick
// default compiled in from experiments/configs/quick.textproto (a [2048, 2048] weight matrix
// with outliers, 8 tokens, every format and path, and a small MoE layer) in seconds.
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "experiments/quick_config.h"
#include "experiments/report_files.h"
#include "experiments/report_writer.h"
#include "experiments/sweep_config.h"
#include "experiments/sweep_runner.h"
#include "files/interrupt_cleanup.h"
#include "files/out_of_memory.h"
#include "files/output_paths.h"
#include "files/output_set.h"
#include "files/user_paths.h"
#include "kernels/microkernel_table.h"

ABSL_FLAG(std::string, config, "", "sweep textproto (experiments/configs/); empty: the quick default");
ABSL_FLAG(std::optional<int>, shard_index, std::nullopt,
          "run cases i with i % shard_count == shard_index (default: $TEST_SHARD_INDEX, else 0)");
ABSL_FLAG(std::optional<int>, shard_count, std::nullopt,
          "number of shards (default: $TEST_TOTAL_SHARDS, else 1)");
ABSL_FLAG(std::string, csv, "", "CSV path, instead of the config's output.csv");
ABSL_FLAG(std::string, markdown, "", "Markdown report path, instead of output.markdown");
ABSL_FLAG(std::string, plot_dir, "", "plot directory, instead of output.plot_dir");
ABSL_FLAG(std::string, json, "", "also write the rows as JSON (Google Benchmark's layout) here");
ABSL_FLAG(std::string, isa, "", "force one ISA's kernels (scalar, avx2, avx512, amx)");
ABSL_FLAG(bool, progress, true, "a progress line with ETA on stderr");

namespace fp4moe::experiments {
namespace {

// Set by the first Ctrl-C (files::StopAtFirstInterrupt), or by a failed CSV write.
std::atomic<bool> stop_requested{false};

// The flag if given, else the environment variable (Bazel's sharding) if set, else `fallback`.
absl::StatusOr<int> FlagEnvOr(const absl::Flag<std::optional<int>>& flag, const char* flag_name,
                              const char* env, int fallback) {
  if (const std::optional<int> value = absl::GetFlag(flag)) return *value;
  const char* text = std::getenv(env);
  if (text == nullptr || *text == '\0') return fallback;
  int value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("$%s=%s is not a number (give --%s)", env, text, flag_name));
  }
  return value;
}

std::string FlagOr(const absl::Flag<std::string>& flag, const std::string& configured) {
  const std::string value = absl::GetFlag(flag);
  return files::UserPath(value.empty() ? configured : value);
}

// out.csv -> out.shard-1-of-4.csv
std::string ShardPath(const std::string& path, int index, int count) {
  std::filesystem::path p(path);
  return (p.parent_path() / absl::StrFormat("%s.shard-%d-of-%d%s", p.stem().string(), index,
                                            count, p.extension().string()))
      .string();
}

int Run() {
  const std::string config_path = files::UserPath(absl::GetFlag(FLAGS_config));
  absl::StatusOr<SweepConfig> config =
      config_path.empty()
          ? ParseSweepConfig(kQuickSweepConfig, "experiments/configs/quick.textproto (embedded)")
          : LoadSweepConfig(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "compare: invalid sweep config, nothing was run:\n%s\n",
                 std::string(config.status().message()).c_str());
    return 1;
  }
  if (!absl::GetFlag(FLAGS_isa).empty()) {
    absl::StatusOr<kernels::Isa> isa = kernels::ParseIsa(absl::GetFlag(FLAGS_isa));
    if (!isa.ok()) {
      std::fprintf(stderr, "compare: --isa: %s\n", std::string(isa.status().message()).c_str());
      return 1;
    }
    config->isa = *isa;
  }
  RunOptions options;
  absl::StatusOr<int> shard_count =
      FlagEnvOr(FLAGS_shard_count, "shard_count", "TEST_TOTAL_SHARDS", 1);
  absl::StatusOr<int> shard_index =
      FlagEnvOr(FLAGS_shard_index, "shard_index", "TEST_SHARD_INDEX", 0);
  absl::Status shard = !shard_count.ok()   ? shard_count.status()
                       : !shard_index.ok() ? shard_index.status()
                                           : CheckShard(*shard_index, *shard_count);
  if (!shard.ok()) {
    std::fprintf(stderr, "compare: %s; nothing was run\n", std::string(shard.message()).c_str());
    return 1;
  }
  options.shard_count = *shard_count;
  options.shard_index = *shard_index;
  options.progress = absl::GetFlag(FLAGS_progress);
  options.stop = &stop_requested;
  const Output& output = config->proto.output();
  std::string csv = FlagOr(FLAGS_csv, output.csv());
  std::string markdown = FlagOr(FLAGS_markdown, output.markdown());
  std::string plot_dir = FlagOr(FLAGS_plot_dir, output.plot_dir());
  std::string json = files::UserPath(absl::GetFlag(FLAGS_json));
  const bool sharded = options.shard_count > 1;
  if (sharded) {
    if (!csv.empty()) csv = ShardPath(csv, options.shard_index, options.shard_count);
    markdown.clear();  // //experiments:merge writes the report of all shards
    plot_dir.clear();
    json.clear();
  }
  // Every file this run may write, checked before the first is opened (the CSV is truncated
  // when opened, long before the report is written).
  std::vector<files::NamedPath> outputs = ReportFilePaths(
      absl::GetFlag(FLAGS_markdown).empty() ? "the config's output.markdown" : "--markdown",
      markdown, plot_dir, json);
  outputs.insert(outputs.begin(),
                 {absl::GetFlag(FLAGS_csv).empty() ? "the config's output.csv" : "--csv", csv});
  if (absl::Status s = files::CheckOutputPaths({{"--config", config_path}}, outputs); !s.ok()) {
    std::fprintf(stderr, "compare: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  if (const char* status_file = std::getenv("TEST_SHARD_STATUS_FILE")) {
    // Tells Bazel this binary shards.
    std::FILE* file = std::fopen(status_file, "w");
    if (file == nullptr) {
      std::fprintf(stderr, "compare: cannot write TEST_SHARD_STATUS_FILE=%s: %s\n", status_file,
                   std::strerror(errno));
      return 1;
    }
    std::fclose(file);
  }

  // Every file is written under a temporary name and all are renamed into place together at
  // the end: on any error none is left, not even the CSV written row by row meanwhile. The
  // first Ctrl-C stops the sweep after the current case and the files of the finished cases
  // are written; a second one, SIGTERM or SIGHUP remove them all and end the process
  // (files/interrupt_cleanup.h), except during the final renames, which they wait for.
  files::StopAtFirstInterrupt(
      stop_requested,
      "\ncompare: stopping after the current case (Ctrl-C again to quit, writing nothing)\n");
  files::OutputSet output_files;
  files::OutputFile* csv_file = nullptr;
  if (!csv.empty()) {
    absl::StatusOr<files::OutputFile*> created = CreateOutputFile(output_files, csv);
    absl::Status s = created.ok() ? (*created)->Write(CsvHeader() + "\n") : created.status();
    if (!s.ok()) {
      std::fprintf(stderr, "compare: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    csv_file = *created;
  }
  std::printf("fp4moe compare: sweep %s%s\n\n%s\n", config->name.c_str(),
              sharded ? absl::StrFormat(", shard %d of %d", options.shard_index,
                                        options.shard_count).c_str()
                      : "",
              TextTableHeader().c_str());
  std::fflush(stdout);
  absl::Status write_status;
  options.on_row = [&](const ResultRow& row) {
    std::printf("%s\n", TextTableLine(row).c_str());
    std::fflush(stdout);
    if (csv_file != nullptr && write_status.ok()) {
      write_status = csv_file->Write(CsvLine(row) + "\n");
      if (!write_status.ok()) stop_requested = true;  // the run is lost: no case more
    }
  };
  absl::StatusOr<RunResult> result = RunSweep(*config, options);
  if (!result.ok() || !write_status.ok()) {
    const absl::Status& error = result.ok() ? write_status : result.status();
    std::fprintf(stderr, "compare: %s; no file was written\n",
                 std::string(error.message()).c_str());
    return 1;
  }
  std::printf("\n%zu of %lld cases of this %s run", result->rows.size(),
              static_cast<long long>(result->shard_cases), sharded ? "shard's" : "sweep's");
  std::printf("%s\n", result->stopped ? " (stopped by Ctrl-C)" : "");
  absl::StatusOr<std::vector<std::string>> written =
      WriteReportFiles(result->rows, markdown, plot_dir, json, output_files);
  const absl::Status committed = written.ok() ? output_files.Commit() : written.status();
  if (!committed.ok()) {
    std::fprintf(stderr, "compare: %s; no file was written\n",
                 std::string(committed.message()).c_str());
    return 1;
  }
  if (!csv.empty()) std::printf("csv: %s\n", csv.c_str());
  for (const std::string& line : *written) std::printf("%s\n", line.c_str());
  if (sharded && !csv.empty()) {
    std::printf("join the shards' CSVs with bazel run //experiments:merge\n");
  }
  // 130, as a shell reports SIGINT, also where the Ctrl-C came after the last case.
  return stop_requested ? 130 : 0;
}

}  // namespace
}  // namespace fp4moe::experiments

int main(int argc, char** argv) {
  fp4moe::files::RemoveTemporariesOnInterrupt("compare");
  absl::SetProgramUsageMessage(
      "Compares 4-bit weight formats and GEMM paths for accuracy and speed over a sweep "
      "(--config=experiments/configs/NAME.textproto; default: the quick comparison).");
  absl::ParseCommandLine(argc, argv);
  return fp4moe::files::ExitCodeCatchingOutOfMemory("compare", fp4moe::experiments::Run);
}
