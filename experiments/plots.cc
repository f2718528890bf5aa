#include "experiments/plots.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "experiments/plot_style.h"
#include "experiments/row_facts.h"
#include "experiments/run_program.h"
#include "files/output_set.h"

namespace fp4moe::experiments {
namespace {

constexpr char kAccuracyVsSpeed[] = "accuracy_vs_speed";
constexpr char kSpeedVsQlen[] = "speed_vs_qlen";
constexpr char kErrorVsDistribution[] = "error_vs_distribution";
// Every plot BuildPlots can make, and the files each leaves in the plot directory.
constexpr const char* kAllPlots[] = {kAccuracyVsSpeed, kSpeedVsQlen, kErrorVsDistribution};
constexpr const char* kPlotExtensions[] = {".png", ".dat", ".gp"};

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

// Text on one line of a data file (a comment, a label).
std::string OneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return s;
}

// A string in a data file (a point's label), where gnuplot reads double quotes only and runs
// nothing; a double quote inside would end the field.
std::string DataString(const std::string& s) {
  std::string text = OneLine(s);
  std::replace(text.begin(), text.end(), '"', '\'');
  return absl::StrCat("\"", text, "\"");
}

template <typename T>
size_t IndexOf(std::vector<T>& list, const T& item) {
  auto it = std::find(list.begin(), list.end(), item);
  if (it == list.end()) it = list.insert(list.end(), item);
  return static_cast<size_t>(it - list.begin());
}

// What sets cases apart besides format and path. Plots show each case; those that share a
// format and path are told apart by the dimensions that vary among them, named in labels or
// series titles.
enum Dimension : size_t { kProjection, kDistribution, kSeed, kThreads, kTpParts, kQlen };
const std::vector<std::function<std::string(const ResultRow&)>>& Dimensions() {
  static const auto* dimensions = new std::vector<std::function<std::string(const ResultRow&)>>{
      [](const ResultRow& r) { return r.projection; },
      [](const ResultRow& r) { return r.distribution; },
      [](const ResultRow& r) { return absl::StrCat("seed ", r.seed); },
      [](const ResultRow& r) { return absl::StrCat("t=", r.threads); },
      [](const ResultRow& r) { return absl::StrCat("tp=", r.tp_parts); },
      [](const ResultRow& r) { return absl::StrCat("q=", r.qlen); }};
  return *dimensions;
}

// The values of the dimensions that vary among `rows` (those in `dimensions` only).
class Variation {
 public:
  Variation(const std::vector<const ResultRow*>& rows, const std::vector<Dimension>& dimensions) {
    for (Dimension d : dimensions) {
      std::set<std::string> values;
      for (const ResultRow* r : rows) values.insert(Dimensions()[d](*r));
      if (values.size() > 1) varying_.push_back(d);
    }
  }
  std::string Of(const ResultRow& r) const {
    std::vector<std::string> values;
    for (size_t d : varying_) values.push_back(Dimensions()[d](r));
    return absl::StrJoin(values, " ");
  }

 private:
  std::vector<Dimension> varying_;
};

// Colour by format and marker by path, the same in every panel of a plot. A down projection's
// marker is open, every other filled.
class Styles {
 public:
  explicit Styles(const std::vector<const ResultRow*>& rows) {
    for (const ResultRow* r : rows) {
      IndexOf(formats_, FormatLabel(*r));
      IndexOf(paths_, r->path);
    }
    colours_ = DistinctColours(formats_.size());
  }
  std::string Colour(const ResultRow& r) { return colours_[IndexOf(formats_, FormatLabel(r))]; }
  std::string Of(const ResultRow& r) {
    return absl::StrFormat("lc rgb '%s' %s", Colour(r),
                           Marker(IndexOf(paths_, r.path), r.projection != "down"));
  }

 private:
  std::vector<std::string> formats_, paths_, colours_;
};

// "nvfp4 w4a8", then what else sets the series apart, if anything.
std::string SeriesTitle(const ResultRow& r, const std::string& variant) {
  const std::string title = absl::StrCat(FormatLabel(r), " ", r.path);
  return variant.empty() ? title : absl::StrCat(title, " ", variant);
}

// One series of a panel: its cases, the data lines drawn from them, and how they are drawn
// (what follows "DATA index i" in each plot clause).
struct Series {
  std::string key, title, style;
  std::vector<const ResultRow*> rows;
  std::vector<std::string> lines, draws;
};

// Rows of one measure and model: speeds of different shapes never share axes.
struct Panel {
  std::string title;
  std::vector<const ResultRow*> rows;
  std::vector<Series> series;  // filled by each plot
  std::string setup;           // what the panel sets before its plot command
};

std::vector<Panel> Panels(const std::vector<ResultRow>& rows,
                          const std::function<bool(const ResultRow&)>& keep) {
  std::vector<Panel> panels;
  for (const ResultRow& r : rows) {
    if (!keep(r)) continue;
    const std::string title =
        absl::StrFormat("%s %s", r.measure == "moe" ? "MoE layer" : "GEMM", r.model);
    auto panel = std::find_if(panels.begin(), panels.end(),
                              [&](const Panel& p) { return p.title == title; });
    if (panel == panels.end()) panel = panels.insert(panels.end(), Panel{title, {}, {}, ""});
    panel->rows.push_back(&r);
  }
  return panels;
}

std::vector<const ResultRow*> AllRows(const std::vector<Panel>& panels) {
  std::vector<const ResultRow*> all;
  for (const Panel& p : panels) all.insert(all.end(), p.rows.begin(), p.rows.end());
  return all;
}

// Adds `row` to the panel's series of that key, made with `title` and `style` if new.
void AddToSeries(Panel& panel, const std::string& key, const std::string& title,
                 const std::string& style, const ResultRow* row) {
  auto it = std::find_if(panel.series.begin(), panel.series.end(),
                         [&](const Series& s) { return s.key == key; });
  if (it == panel.series.end()) {
    it = panel.series.insert(panel.series.end(), Series{key, title, style, {}, {}, {}});
  }
  it->rows.push_back(row);
}

// A series per format, path and projection: one style each, the projection in the title where
// the panel has more than one.
void SeriesPerStyle(Panel& panel, Styles& styles) {
  const Variation projection(panel.rows, {kProjection});
  for (const ResultRow* r : panel.rows) {
    const std::string style = styles.Of(*r);
    AddToSeries(panel, style, SeriesTitle(*r, projection.Of(*r)), style, r);
  }
}

// The tokens/s of a row's third and first quartile times (slower first): its error bar.
std::pair<double, double> SpeedQuartiles(const ResultRow& r) {
  if (!(r.time_q3_us > 0) || !(r.time_q1_us > 0)) return {r.tokens_per_s, r.tokens_per_s};
  return {r.qlen * 1e6 / r.time_q3_us, r.qlen * 1e6 / r.time_q1_us};
}

std::string PanelTitle(const Panel& panel, bool timed) {
  const std::string regime = timed ? RegimeLabel(panel.rows) : "";
  return regime.empty() ? panel.title : absl::StrCat(panel.title, ", ", regime);
}

// One PNG of `panels` side by side under `title`; `common` is set before the first panel.
PlotFiles Draw(const std::string& name, const std::string& title, const std::string& common,
               const std::vector<Panel>& panels) {
  const size_t columns = std::min<size_t>(panels.size(), 2);
  const size_t rows = (panels.size() + columns - 1) / columns;
  PlotFiles plot{name, "", ""};
  // noenhanced: names such as int4_k2 would otherwise print as subscripts.
  plot.script = absl::StrFormat(
      "set terminal pngcairo size %d,%d noenhanced\nset output %s\nDATA = %s\n"
      "set key outside right top\nset grid\n%sset multiplot layout %d,%d title %s\n",
      1100 * columns, 700 * rows + 40, ScriptString(name + ".png"), ScriptString(name + ".dat"),
      common, rows, columns, ScriptString(title));
  size_t index = 0;
  for (const Panel& panel : panels) {
    std::vector<std::string> clauses;
    for (const Series& series : panel.series) {
      absl::StrAppendFormat(&plot.data, "# %s\n%s\n\n\n",
                            OneLine(absl::StrCat(panel.title, ": ", series.title)),
                            absl::StrJoin(series.lines, "\n"));
      for (const std::string& draw : series.draws) {
        clauses.push_back(absl::StrFormat("DATA index %d %s", index, draw));
      }
      ++index;
    }
    absl::StrAppend(&plot.script, panel.setup, "plot ", absl::StrJoin(clauses, ", \\\n     "),
                    "\n");
  }
  plot.script += "unset multiplot\n";
  return plot;
}

// Output error against tokens/s: a point per case, labelled with what sets it apart from the
// other cases of its format and path; bars from the first to the third quartile of the time.
std::optional<PlotFiles> AccuracyVsSpeed(const std::vector<ResultRow>& rows) {
  std::vector<Panel> panels =
      Panels(rows, [](const ResultRow& r) { return Timed(r) && !std::isnan(r.rel_err); });
  if (panels.empty()) return std::nullopt;
  const std::vector<const ResultRow*> all = AllRows(panels);
  Styles styles(all);
  for (Panel& panel : panels) {
    const Variation labels(panel.rows, {kDistribution, kSeed, kThreads, kTpParts, kQlen});
    SeriesPerStyle(panel, styles);
    for (Series& series : panel.series) {
      bool labelled = false;
      for (const ResultRow* r : series.rows) {
        const auto [low, high] = SpeedQuartiles(*r);
        const std::string label = labels.Of(*r);
        labelled = labelled || !label.empty();
        series.lines.push_back(absl::StrFormat("%.6g %.6g %.6g %.6g %s", r->tokens_per_s,
                                               r->rel_err, low, high, DataString(label)));
      }
      series.draws.push_back(absl::StrFormat("using 1:2:3:4 with xerrorbars %s title %s",
                                             series.style, ScriptString(series.title)));
      if (labelled) {
        series.draws.push_back(absl::StrFormat(
            "using 1:2:5 with labels left offset char 0.8,0.5 font ',8' tc rgb '%s' notitle",
            styles.Colour(*series.rows.front())));
      }
    }
    panel.setup = absl::StrFormat("set title %s\n", ScriptString(PanelTitle(panel, true)));
  }
  return Draw(
      kAccuracyVsSpeed,
      absl::StrCat("Output error against speed, one point per case, on ", MachineLabel(all)),
      "set logscale x\nset xlabel 'tokens/s (bars: first to third quartile of the time)'\n"
      "set ylabel 'relative Frobenius error of the output'\n",
      panels);
}

// Tokens/s against qlen: a line per format, path and every other dimension but qlen (nothing
// averaged), bars from the first to the third quartile of the time.
std::optional<PlotFiles> SpeedVsQlen(const std::vector<ResultRow>& rows) {
  std::vector<Panel> panels = Panels(rows, Timed);
  std::set<int64_t> qlens;
  for (const Panel& panel : panels) {
    for (const ResultRow* r : panel.rows) qlens.insert(r->qlen);
  }
  if (qlens.size() < 2) return std::nullopt;  // a single qlen has no trend to draw
  const std::vector<const ResultRow*> all = AllRows(panels);
  Styles styles(all);
  for (Panel& panel : panels) {
    const Variation variation(panel.rows, {kProjection, kDistribution, kSeed, kThreads, kTpParts});
    std::vector<std::string> variants;
    // Cases that differ in nothing plotted (a path asked for and auto resolving to it) would
    // zigzag on one line: the second at a qlen starts a line "(2)", and so on.
    std::map<std::string, int> seen;
    for (const ResultRow* r : panel.rows) {
      std::string variant = variation.Of(*r);
      const int repeat =
          ++seen[absl::StrCat(FormatLabel(*r), "|", r->path, "|", variant, "|", r->qlen)];
      if (repeat > 1) {
        variant = absl::StrFormat("%s%s(%d)", variant, variant.empty() ? "" : " ", repeat);
      }
      const std::string style = absl::StrCat(styles.Of(*r), " ", Dash(IndexOf(variants, variant)));
      AddToSeries(panel, style, SeriesTitle(*r, variant), style, r);
    }
    for (Series& series : panel.series) {
      std::stable_sort(series.rows.begin(), series.rows.end(),
                       [](const ResultRow* a, const ResultRow* b) { return a->qlen < b->qlen; });
      for (const ResultRow* r : series.rows) {
        const auto [low, high] = SpeedQuartiles(*r);
        series.lines.push_back(
            absl::StrFormat("%d %.6g %.6g %.6g", r->qlen, r->tokens_per_s, low, high));
      }
      series.draws.push_back(absl::StrFormat("using 1:2:3:4 with yerrorlines %s title %s",
                                             series.style, ScriptString(series.title)));
    }
    panel.setup = absl::StrFormat("set title %s\n", ScriptString(PanelTitle(panel, true)));
  }
  return Draw(
      kSpeedVsQlen,
      absl::StrCat("Speed against tokens per call, one point per case, on ", MachineLabel(all)),
      "set logscale xy\nset xlabel 'qlen (tokens per call)'\n"
      "set ylabel 'tokens/s (bars: first to third quartile of the time)'\n",
      panels);
}

// Output error per weight distribution: a point per case (seeds, projections and qlens each
// their own), a column of points per format and path beside the others.
std::optional<PlotFiles> ErrorVsDistribution(const std::vector<ResultRow>& rows) {
  std::vector<Panel> panels =
      Panels(rows, [](const ResultRow& r) { return Measured(r) && !std::isnan(r.rel_err); });
  if (panels.empty()) return std::nullopt;
  const std::vector<const ResultRow*> all = AllRows(panels);
  Styles styles(all);
  for (Panel& panel : panels) {
    std::vector<std::string> distributions;
    for (const ResultRow* r : panel.rows) IndexOf(distributions, r->distribution);
    SeriesPerStyle(panel, styles);
    // Columns of points side by side within 0.8 of each distribution's place.
    const double width = 0.8 / panel.series.size();
    for (size_t s = 0; s < panel.series.size(); ++s) {
      Series& series = panel.series[s];
      const double offset = -0.4 + width * (s + 0.5);
      for (const ResultRow* r : series.rows) {
        series.lines.push_back(absl::StrFormat(
            "%.4f %.6g", IndexOf(distributions, r->distribution) + offset, r->rel_err));
      }
      series.draws.push_back(absl::StrFormat("using 1:2 with points %s title %s", series.style,
                                             ScriptString(series.title)));
    }
    std::vector<std::string> tics;
    for (size_t d = 0; d < distributions.size(); ++d) {
      tics.push_back(absl::StrFormat("%s %d", ScriptString(distributions[d]), d));
    }
    panel.setup = absl::StrFormat("set title %s\nset xtics (%s)\nset xrange [-0.5:%d.5]\n",
                                  ScriptString(panel.title), absl::StrJoin(tics, ", "),
                                  distributions.size() - 1);
  }
  return Draw(kErrorVsDistribution,
              absl::StrCat("Output error per weight distribution, one point per case, on ",
                           MachineLabel(all)),
              "set ylabel 'relative Frobenius error of the output'\nset yrange [0:*]\n"
              "set grid noxtics ytics\n",
              panels);
}

}  // namespace

std::vector<PlotFiles> BuildPlots(const std::vector<ResultRow>& rows) {
  std::vector<PlotFiles> plots;
  for (auto build : {AccuracyVsSpeed, SpeedVsQlen, ErrorVsDistribution}) {
    if (std::optional<PlotFiles> plot = build(rows)) plots.push_back(*std::move(plot));
  }
  return plots;
}

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
  for (const PlotFiles& plot : BuildPlots(rows)) names.push_back(plot.name + ".png");
  return names;
}

absl::StatusOr<std::vector<std::string>> WritePlots(const std::vector<ResultRow>& rows,
                                                    const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrFormat("cannot create %s: %s", dir, error.message()));
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
  for (const PlotFiles& plot : BuildPlots(rows)) {
    const std::filesystem::path base = absolute_dir / plot.name;
    if (absl::Status s = files::WriteWholeFile(base.string() + ".dat", plot.data); !s.ok()) {
      return s;
    }
    if (absl::Status s = files::WriteWholeFile(base.string() + ".gp", plot.script); !s.ok()) {
      return s;
    }
    // A plot takes gnuplot seconds; a minute means it is stuck (it spins when its memory is
    // limited), and the run ends with that error rather than waiting for ever.
    if (absl::Status s = RunProgram({"gnuplot", base.string() + ".gp"}, absolute_dir.string(),
                                    absl::Minutes(1));
        !s.ok()) {
      return s;
    }
    written.push_back(plot.name + ".png");
  }
  return written;
}

}  // namespace fp4moe::experiments
