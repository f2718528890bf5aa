#include "experiments/plots.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "experiments/run_program.h"

namespace fp4moe::experiments {
namespace {

constexpr char kAccuracyVsSpeed[] = "accuracy_vs_speed";
constexpr char kSpeedVsQlen[] = "speed_vs_qlen";
constexpr char kErrorVsDistribution[] = "error_vs_distribution";
// Every plot BuildPlots can make, and the files each leaves in the plot directory.
constexpr const char* kAllPlots[] = {kAccuracyVsSpeed, kSpeedVsQlen, kErrorVsDistribution};
constexpr const char* kPlotExtensions[] = {".png", ".dat", ".gp"};

// One PNG: its data file and the gnuplot commands after the common preamble (DATA stands for
// the data file's path).
struct Plot {
  std::string name;  // without extension
  std::string data;
  std::string commands;
};

// Series in first-seen order, each a list of (x, y) points or values per category.
class SeriesTable {
 public:
  std::vector<std::pair<double, double>>& Points(const std::string& key) {
    auto [it, inserted] = index_.try_emplace(key, series_.size());
    if (inserted) series_.push_back({key, {}});
    return series_[it->second].second;
  }
  const std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>>& series()
      const {
    return series_;
  }

 private:
  std::map<std::string, size_t> index_;
  std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>> series_;
};

// A string constant in a gnuplot script. Single quotes, because gnuplot runs `...` inside
// double quotes as a shell command; in single quotes only '' is special. A line break would end
// the command.
std::string ScriptString(const std::string& s) {
  std::string quoted = "'";
  for (char c : s) {
    if (c == '\'') {
      quoted += "''";
    } else {
      quoted += (c == '\n' || c == '\r') ? ' ' : c;
    }
  }
  return quoted + "'";
}

// A string in a data file (a column header), where gnuplot reads double quotes only and runs
// nothing.
std::string DataString(const std::string& s) { return absl::StrCat("\"", s, "\""); }

std::string FormatLabel(const ResultRow& r) {
  return r.format == "int4_k2" ? absl::StrFormat("int4_k2(G=%d)", r.group_size) : r.format;
}

bool Measured(const ResultRow& r) { return r.note.empty(); }

// Points of every series, in index blocks, plotted with one clause per series.
Plot PointsPlot(const std::string& name, const SeriesTable& table, const std::string& style,
                const std::string& setup) {
  Plot plot{name, "", setup + "plot "};
  std::vector<std::string> clauses;
  for (size_t i = 0; i < table.series().size(); ++i) {
    const auto& [key, points] = table.series()[i];
    absl::StrAppendFormat(&plot.data, "# %s\n", key);
    for (const auto& [x, y] : points) absl::StrAppendFormat(&plot.data, "%.9g %.9g\n", x, y);
    plot.data += "\n\n";
    clauses.push_back(absl::StrFormat("DATA index %d using 1:2 with %s title %s", i, style,
                                      ScriptString(key)));
  }
  plot.commands += absl::StrJoin(clauses, ", \\\n     ") + "\n";
  return plot;
}

std::vector<Plot> BuildPlots(const std::vector<ResultRow>& rows) {
  std::vector<Plot> plots;

  SeriesTable accuracy;
  for (const ResultRow& r : rows) {
    if (Measured(r) && !std::isnan(r.tokens_per_s) && !std::isnan(r.rel_err)) {
      accuracy.Points(absl::StrCat(r.measure, " ", r.path)).push_back({r.tokens_per_s, r.rel_err});
    }
  }
  if (!accuracy.series().empty()) {
    plots.push_back(PointsPlot(
        kAccuracyVsSpeed, accuracy, "points pointsize 1.5",
        "set title 'Output error against speed, per path'\nset logscale x\n"
        "set xlabel 'tokens/s'\nset ylabel 'relative Frobenius error of the output'\n"));
  }

  // Mean tokens/s per qlen in each series (several seeds or distributions average).
  std::map<std::pair<std::string, int64_t>, std::pair<double, int>> speed_sums;
  std::vector<std::string> speed_keys;
  for (const ResultRow& r : rows) {
    if (!Measured(r) || std::isnan(r.tokens_per_s)) continue;
    std::string key = absl::StrFormat("%s %s %s %s t=%d", r.measure, r.model, FormatLabel(r),
                                      r.path, r.threads);
    if (r.tp_parts > 1) absl::StrAppendFormat(&key, " tp=%d", r.tp_parts);
    auto& [sum, count] = speed_sums[{key, r.qlen}];
    if (count == 0 && std::find(speed_keys.begin(), speed_keys.end(), key) == speed_keys.end()) {
      speed_keys.push_back(key);
    }
    sum += r.tokens_per_s;
    ++count;
  }
  std::set<int64_t> qlens;
  for (const auto& [where, sum_count] : speed_sums) qlens.insert(where.second);
  if (qlens.size() >= 2) {  // a single qlen has no trend to draw
    SeriesTable speed;
    for (const std::string& key : speed_keys) {
      std::vector<std::pair<double, double>>& points = speed.Points(key);
      for (const auto& [where, sum_count] : speed_sums) {
        if (where.first == key) {
          points.push_back({static_cast<double>(where.second), sum_count.first / sum_count.second});
        }
      }
    }
    plots.push_back(PointsPlot(kSpeedVsQlen, speed, "linespoints",
                               "set title 'Speed against tokens per call'\nset logscale xy\n"
                               "set xlabel 'qlen (tokens per call)'\nset ylabel 'tokens/s'\n"));
  }

  // Mean output error per distribution, a bar per measure/format/path.
  std::vector<std::string> distributions, keys;
  std::map<std::pair<std::string, std::string>, std::pair<double, int>> error_sums;
  for (const ResultRow& r : rows) {
    if (!Measured(r) || std::isnan(r.rel_err)) continue;
    const std::string key = absl::StrFormat("%s/%s/%s", r.measure, FormatLabel(r), r.path);
    if (std::find(distributions.begin(), distributions.end(), r.distribution) ==
        distributions.end()) {
      distributions.push_back(r.distribution);
    }
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    auto& [sum, count] = error_sums[{r.distribution, key}];
    sum += r.rel_err;
    ++count;
  }
  if (!keys.empty()) {
    Plot plot{kErrorVsDistribution, "distribution", ""};
    for (const std::string& key : keys) absl::StrAppend(&plot.data, " ", DataString(key));
    plot.data += "\n";
    for (const std::string& d : distributions) {
      plot.data += d;
      for (const std::string& key : keys) {
        auto it = error_sums.find({d, key});
        absl::StrAppend(&plot.data, " ",
                        it == error_sums.end()
                            ? std::string("-")
                            : absl::StrFormat("%.9g", it->second.first / it->second.second));
      }
      plot.data += "\n";
    }
    plot.commands = absl::StrFormat(
        "set title 'Output error per weight distribution'\nset ylabel 'relative Frobenius "
        "error of the output'\nset style data histograms\nset style histogram clustered gap 1\n"
        "set style fill solid 0.8 border -1\nset datafile missing '-'\nset yrange [0:*]\n"
        "plot for [i=2:%d] DATA using i:xtic(1) title columnheader(i)\n",
        keys.size() + 1);
    plots.push_back(std::move(plot));
  }
  return plots;
}

}  // namespace

bool GnuplotAvailable() { return FindOnPath("gnuplot").has_value(); }

std::vector<std::string> PlotFileNames() {
  std::vector<std::string> names;
  for (const char* plot : kAllPlots) {
    for (const char* extension : kPlotExtensions) names.push_back(absl::StrCat(plot, extension));
  }
  return names;
}

std::vector<std::string> PlotNames(const std::vector<ResultRow>& rows) {
  std::vector<std::string> names;
  for (const Plot& plot : BuildPlots(rows)) names.push_back(plot.name + ".png");
  return names;
}

absl::StatusOr<std::vector<std::string>> WritePlots(const std::vector<ResultRow>& rows,
                                                    const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::PermissionDeniedError(absl::StrFormat("cannot create %s: %s", dir, error.message()));
  }
  // gnuplot runs in `dir` on its script's absolute path, and the script names its files without
  // a directory: the directory's name, whatever it holds, is never gnuplot or shell syntax.
  std::error_code absolute_error;
  const std::filesystem::path absolute_dir = std::filesystem::absolute(dir, absolute_error);
  if (absolute_error) {
    return absl::InternalError(
        absl::StrFormat("cannot resolve %s: %s", dir, absolute_error.message()));
  }
  std::vector<std::string> written;
  for (const Plot& plot : BuildPlots(rows)) {
    const std::filesystem::path base = absolute_dir / plot.name;
    if (absl::Status s = WriteTextFile(base.string() + ".dat", plot.data); !s.ok()) return s;
    // noenhanced: names such as int4_k2 would otherwise print as subscripts.
    const std::string script = absl::StrFormat(
        "set terminal pngcairo size 1100,700 noenhanced\nset output %s\nDATA = %s\n"
        "set key outside right top\nset grid\n%s",
        ScriptString(plot.name + ".png"), ScriptString(plot.name + ".dat"), plot.commands);
    if (absl::Status s = WriteTextFile(base.string() + ".gp", script); !s.ok()) return s;
    if (absl::Status s = RunProgram({"gnuplot", base.string() + ".gp"}, absolute_dir.string());
        !s.ok()) {
      return s;
    }
    written.push_back(plot.name + ".png");
  }
  return written;
}

}  // namespace fp4moe::experiments
