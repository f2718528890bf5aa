#include "experiments/report_files.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_format.h"
#include "experiments/plots.h"
#include "experiments/report_json.h"

namespace fp4moe::experiments {
namespace {

// gnuplot exits 0 even when it could not write its PNG whole (a full disk, a file size limit):
// a whole PNG ends with the IEND chunk. `label` names the file in the error.
absl::Status CheckWholePng(const std::string& path, const std::string& label) {
  constexpr char kIend[] = "\0\0\0\0IEND\xae\x42\x60\x82";
  constexpr size_t kIendBytes = sizeof(kIend) - 1;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  char tail[kIendBytes];
  const bool whole = in && static_cast<size_t>(in.tellg()) >= kIendBytes &&
                     in.seekg(-static_cast<std::streamoff>(kIendBytes), std::ios::end) &&
                     in.read(tail, kIendBytes) && std::memcmp(tail, kIend, kIendBytes) == 0;
  if (whole) return absl::OkStatus();
  return absl::DataLossError(absl::StrFormat(
      "gnuplot did not write %s whole (a full disk?)", label));
}

}  // namespace

absl::StatusOr<files::OutputFile*> CreateOutputFile(files::OutputSet& outputs,
                                                    const std::string& path) {
  if (absl::Status s = outputs.MakeDirectories(std::filesystem::path(path).parent_path().string());
      !s.ok()) {
    return s;
  }
  return outputs.Create(path);
}

std::vector<files::NamedPath> ReportFilePaths(const std::string& markdown_label,
                                              const std::string& markdown,
                                              const std::string& plot_dir,
                                              const std::string& json) {
  std::vector<files::NamedPath> paths = {{markdown_label, markdown}, {"--json", json}};
  if (!plot_dir.empty()) {
    for (const std::string& name : PlotFileNames()) {
      paths.push_back({"plot file", (std::filesystem::path(plot_dir) / name).string()});
    }
  }
  return paths;
}

absl::StatusOr<std::vector<std::string>> WriteReportFiles(const std::vector<ResultRow>& rows,
                                                          const std::string& markdown,
                                                          const std::string& plot_dir,
                                                          const std::string& json,
                                                          files::OutputSet& outputs) {
  std::vector<std::string> written;
  std::vector<std::string> links;
  if (!plot_dir.empty()) {
    if (!GnuplotAvailable()) {
      std::printf("gnuplot is not on PATH: no plots (tools/setup.sh installs gnuplot-nox)\n");
    } else {
      // Drawn in a staging directory inside plot_dir, whose files move up at the commit.
      absl::Status s = outputs.MakeDirectories(plot_dir);
      absl::StatusOr<std::string> stage =
          s.ok() ? outputs.MakeStagingDirectory(plot_dir) : absl::StatusOr<std::string>(s);
      if (!stage.ok()) return stage.status();
      absl::StatusOr<std::vector<std::string>> pngs = WritePlots(rows, *stage);
      if (!pngs.ok()) return pngs.status();
      for (const std::string& png : *pngs) {
        if (absl::Status s = CheckWholePng((std::filesystem::path(*stage) / png).string(),
                                           (std::filesystem::path(plot_dir) / png).string());
            !s.ok()) {
          return s;
        }
      }
      written.push_back(absl::StrFormat("plots: %s (%d PNGs)", plot_dir, pngs->size()));
      // Links relative to the report, so that the report and its plots move together.
      const std::filesystem::path report_dir =
          std::filesystem::absolute(markdown.empty() ? "." : markdown).parent_path();
      const std::filesystem::path relative =
          std::filesystem::absolute(plot_dir).lexically_relative(report_dir);
      for (const std::string& name : *pngs) links.push_back((relative / name).string());
    }
  }
  if (!markdown.empty()) {
    absl::StatusOr<files::OutputFile*> file = CreateOutputFile(outputs, markdown);
    if (!file.ok()) return file.status();
    if (absl::Status s = (*file)->Write(MarkdownReport(rows, links)); !s.ok()) return s;
    written.push_back(absl::StrFormat("report: %s", markdown));
  }
  if (!json.empty()) {
    absl::StatusOr<files::OutputFile*> file = CreateOutputFile(outputs, json);
    if (!file.ok()) return file.status();
    if (absl::Status s = (*file)->Write(JsonReport(rows)); !s.ok()) return s;
    written.push_back(absl::StrFormat("json: %s", json));
  }
  return written;
}

}  // namespace fp4moe::experiments
