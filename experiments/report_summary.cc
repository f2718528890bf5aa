#include "experiments/report_summary.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "experiments/row_facts.h"

namespace fp4moe::experiments {
namespace {

struct Mean {
  double sum = 0;
  int count = 0;
  void Add(double value) {
    sum += value;
    ++count;
  }
  double value() const { return count > 0 ? sum / count : kNotMeasured; }
};

// One format and path of a setting at one qlen.
struct QlenCell {
  Mean error;
  Mean log_speed;  // the geometric mean: up and down projections differ in size
  int timed = 0, noisy = 0;
  // The speed the front may use: none where a case was noisy.
  double speed() const { return noisy > 0 ? kNotMeasured : std::exp(log_speed.value()); }
};

struct Line {
  std::string format, path;
  double bits_per_weight = kNotMeasured;
  Mean error;
  std::map<int64_t, QlenCell> by_qlen;
};

struct Setting {
  std::string heading;
  std::vector<const ResultRow*> rows;
  std::vector<Line> lines;
};

std::string Heading(const ResultRow& r) {
  std::string heading =
      absl::StrFormat("%s `%s`, %d thread%s", r.measure == "moe" ? "MoE layer" : "GEMM", r.model,
                      r.threads, r.threads == 1 ? "" : "s");
  if (r.tp_parts > 1) absl::StrAppendFormat(&heading, ", TP %d", r.tp_parts);
  return heading;
}

std::vector<Setting> Settings(const std::vector<ResultRow>& rows) {
  std::vector<Setting> settings;
  for (const ResultRow& r : rows) {
    if (!Measured(r)) continue;
    const std::string heading = Heading(r);
    auto setting = std::find_if(settings.begin(), settings.end(),
                                [&](const Setting& s) { return s.heading == heading; });
    if (setting == settings.end()) setting = settings.insert(settings.end(), {heading, {}, {}});
    setting->rows.push_back(&r);
    const std::string format = FormatLabel(r);
    auto line = std::find_if(setting->lines.begin(), setting->lines.end(),
                             [&](const Line& l) { return l.format == format && l.path == r.path; });
    if (line == setting->lines.end()) {
      line = setting->lines.insert(setting->lines.end(), Line());
      line->format = format;
      line->path = r.path;
      line->bits_per_weight = r.bits_per_weight;
    }
    QlenCell& cell = line->by_qlen[r.qlen];
    if (!std::isnan(r.rel_err)) {
      line->error.Add(r.rel_err);
      cell.error.Add(r.rel_err);
    }
    if (Timed(r) && r.tokens_per_s > 0) {
      ++cell.timed;
      cell.log_speed.Add(std::log(r.tokens_per_s));
      if (NoisyTiming(r)) ++cell.noisy;
    }
  }
  return settings;
}

std::string Table(const Setting& setting) {
  std::set<int64_t> timed_qlens;
  for (const Line& line : setting.lines) {
    for (const auto& [qlen, cell] : line.by_qlen) {
      if (cell.timed > 0) timed_qlens.insert(qlen);
    }
  }
  std::map<int64_t, std::vector<bool>> front;
  for (int64_t qlen : timed_qlens) {
    std::vector<std::pair<double, double>> points;
    for (const Line& line : setting.lines) {
      auto cell = line.by_qlen.find(qlen);
      points.push_back(cell == line.by_qlen.end()
                           ? std::pair(kNotMeasured, kNotMeasured)
                           : std::pair(cell->second.error.value(), cell->second.speed()));
    }
    front[qlen] = ParetoFront(points);
  }
  std::string out = "| format | path | bits/w | rel.err |";
  for (int64_t qlen : timed_qlens) absl::StrAppendFormat(&out, " tokens/s, qlen %d |", qlen);
  out += "\n|---|---|---|---|";
  for (size_t i = 0; i < timed_qlens.size(); ++i) out += "---|";
  out += "\n";
  for (size_t i = 0; i < setting.lines.size(); ++i) {
    const Line& line = setting.lines[i];
    std::vector<std::string> cells = {
        line.format, line.path,
        std::isnan(line.bits_per_weight) ? "-" : absl::StrFormat("%.2f", line.bits_per_weight),
        std::isnan(line.error.value()) ? "-" : absl::StrFormat("%.5f", line.error.value())};
    for (int64_t qlen : timed_qlens) {
      auto found = line.by_qlen.find(qlen);
      if (found == line.by_qlen.end() || found->second.timed == 0) {
        cells.push_back("-");
      } else if (found->second.noisy > 0) {
        cells.push_back(
            absl::StrFormat("noisy (%d of %d)", found->second.noisy, found->second.timed));
      } else {
        const std::string speed = absl::StrFormat("%.4g", found->second.speed());
        cells.push_back(front[qlen][i] ? absl::StrCat("**", speed, "**") : speed);
      }
    }
    absl::StrAppend(&out, "| ", absl::StrJoin(cells, " | "), " |\n");
  }
  return out;
}

}  // namespace

std::vector<bool> ParetoFront(const std::vector<std::pair<double, double>>& error_speed) {
  const auto valid = [](const std::pair<double, double>& p) {
    return !std::isnan(p.first) && !std::isnan(p.second);
  };
  std::vector<bool> on_front(error_speed.size(), false);
  for (size_t i = 0; i < error_speed.size(); ++i) {
    if (!valid(error_speed[i])) continue;
    // Not a structured binding: C++17 lambdas cannot capture those (clang, fuzz.sh, refuses).
    const double error = error_speed[i].first, speed = error_speed[i].second;
    on_front[i] = std::none_of(error_speed.begin(), error_speed.end(), [&](const auto& other) {
      return valid(other) && other.first <= error && other.second >= speed &&
             (other.first < error || other.second > speed);
    });
  }
  return on_front;
}

std::string MarkdownSummary(const std::vector<ResultRow>& rows) {
  const std::vector<Setting> settings = Settings(rows);
  if (settings.empty()) return "";
  std::string out = absl::StrFormat("## Summary: which format and path\n\nMachine: %s.\n",
                                    MachineLabel(Pointers(rows)));
  for (const Setting& setting : settings) {
    absl::StrAppendFormat(&out, "\n### %s\n\n", setting.heading);
    const std::string regime = RegimeLabel(setting.rows);
    if (!regime.empty()) absl::StrAppendFormat(&out, "Speed with %s.\n\n", regime);
    out += Table(setting);
  }
  out += "\nrel.err: the mean over the line's cases (projections, distributions, seeds, qlens). ";
  if (std::any_of(rows.begin(), rows.end(), Timed)) {
    absl::StrAppendFormat(
        &out,
        "tokens/s: the geometric mean over the line's cases at that qlen. **Bold**: on the Pareto "
        "front of error against speed at that qlen (no other line is both as accurate and as "
        "fast). noisy (k of n): k of the n cases timed at that qlen spread more than %.0f%% "
        "(interquartile range of the repetitions over their median; `IQR %%` below), so the "
        "line is left out there.",
        100 * kNoisyTimingThreshold);
  } else {
    out += "Nothing was timed (speed: false).";
  }
  return out + "\n";
}

}  // namespace fp4moe::experiments
