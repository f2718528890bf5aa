#include "experiments/report_files.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_format.h"
#include "experiments/plots.h"
#include "experiments/report_json.h"

namespace fp4moe::experiments {

std::string UserPath(const std::string& path) {
  const char* cwd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || cwd == nullptr || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(cwd) / path).string();
}

absl::Status EnsureParentDirectory(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code error;
  if (!parent.empty()) std::filesystem::create_directories(parent, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrFormat("cannot create %s: %s", parent.string(), error.message()));
  }
  return absl::OkStatus();
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

absl::Status WriteReportFiles(const std::vector<ResultRow>& rows, const std::string& markdown,
                              const std::string& plot_dir, const std::string& json) {
  std::vector<std::string> links;
  if (!plot_dir.empty()) {
    if (!GnuplotAvailable()) {
      std::printf("gnuplot is not on PATH: no plots (tools/setup.sh installs gnuplot-nox)\n");
    } else {
      absl::StatusOr<std::vector<std::string>> written = WritePlots(rows, plot_dir);
      if (!written.ok()) return written.status();
      std::printf("plots: %s (%zu PNGs)\n", plot_dir.c_str(), written->size());
      // Links relative to the report, so that the report and its plots move together.
      const std::filesystem::path report_dir =
          std::filesystem::absolute(markdown.empty() ? "." : markdown).parent_path();
      const std::filesystem::path relative =
          std::filesystem::absolute(plot_dir).lexically_relative(report_dir);
      for (const std::string& name : *written) links.push_back((relative / name).string());
    }
  }
  if (!markdown.empty()) {
    if (absl::Status s = EnsureParentDirectory(markdown); !s.ok()) return s;
    if (absl::Status s = WriteTextFile(markdown, MarkdownReport(rows, links)); !s.ok()) return s;
    std::printf("report: %s\n", markdown.c_str());
  }
  if (!json.empty()) {
    if (absl::Status s = EnsureParentDirectory(json); !s.ok()) return s;
    if (absl::Status s = WriteTextFile(json, JsonReport(rows)); !s.ok()) return s;
    std::printf("json: %s\n", json.c_str());
  }
  return absl::OkStatus();
}

}  // namespace fp4moe::experiments
