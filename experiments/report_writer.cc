#include "experiments/report_writer.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <sstream>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "experiments/report_summary.h"
#include "experiments/row_facts.h"

namespace fp4moe::experiments {
namespace {

// absl::string_view throughout: Debian's abseil does not alias it to std::string_view.
struct Column {
  const char* name;
  bool number;
  std::function<std::string(const ResultRow&)> get;
  std::function<bool(absl::string_view, ResultRow&)> set;
};

template <typename T>
Column MakeColumn(const char* name, T ResultRow::*member) {
  Column c{name, !std::is_same_v<T, std::string>, nullptr, nullptr};
  if constexpr (std::is_same_v<T, std::string>) {
    c.get = [member](const ResultRow& r) { return r.*member; };
    c.set = [member](absl::string_view text, ResultRow& r) {
      r.*member = std::string(text);
      return true;
    };
  } else if constexpr (std::is_same_v<T, double>) {
    // 6 significant digits: what reports show, and what RoundTripped keeps.
    c.get = [member](const ResultRow& r) {
      return std::isnan(r.*member) ? std::string() : absl::StrFormat("%.6g", r.*member);
    };
    c.set = [member](absl::string_view text, ResultRow& r) {
      if (text.empty()) {
        r.*member = kNotMeasured;
        return true;
      }
      return absl::SimpleAtod(text, &(r.*member));
    };
  } else {
    c.get = [member](const ResultRow& r) { return absl::StrCat(r.*member); };
    c.set = [member](absl::string_view text, ResultRow& r) {
      return absl::SimpleAtoi(text, &(r.*member));
    };
  }
  return c;
}

const std::vector<Column>& Columns() {
  static const std::vector<Column>* columns = new std::vector<Column>{
      MakeColumn("case_index", &ResultRow::case_index),
      MakeColumn("case_count", &ResultRow::case_count),
      MakeColumn("shard_index", &ResultRow::shard_index),
      MakeColumn("shard_count", &ResultRow::shard_count),
      MakeColumn("config_hash", &ResultRow::config_hash),
      MakeColumn("sweep", &ResultRow::sweep),
      MakeColumn("measure", &ResultRow::measure),
      MakeColumn("model", &ResultRow::model),
      MakeColumn("hidden", &ResultRow::hidden),
      MakeColumn("intermediate", &ResultRow::intermediate),
      MakeColumn("experts", &ResultRow::experts),
      MakeColumn("top_k", &ResultRow::top_k),
      MakeColumn("projection", &ResultRow::projection),
      MakeColumn("distribution", &ResultRow::distribution),
      MakeColumn("seed", &ResultRow::seed),
      MakeColumn("format", &ResultRow::format),
      MakeColumn("group_size", &ResultRow::group_size),
      MakeColumn("path", &ResultRow::path),
      MakeColumn("kernel", &ResultRow::kernel),
      MakeColumn("qlen", &ResultRow::qlen),
      MakeColumn("threads", &ResultRow::threads),
      MakeColumn("tp_parts", &ResultRow::tp_parts),
      MakeColumn("bits_per_weight", &ResultRow::bits_per_weight),
      MakeColumn("weight_rel_err", &ResultRow::weight_rel_err),
      MakeColumn("weight_cosine", &ResultRow::weight_cosine),
      MakeColumn("rel_err", &ResultRow::rel_err),
      MakeColumn("max_abs_err", &ResultRow::max_abs_err),
      MakeColumn("cosine", &ResultRow::cosine),
      MakeColumn("time_median_us", &ResultRow::time_median_us),
      MakeColumn("time_min_us", &ResultRow::time_min_us),
      MakeColumn("time_max_us", &ResultRow::time_max_us),
      MakeColumn("time_q1_us", &ResultRow::time_q1_us),
      MakeColumn("time_q3_us", &ResultRow::time_q3_us),
      MakeColumn("tokens_per_s", &ResultRow::tokens_per_s),
      MakeColumn("gb_per_s", &ResultRow::gb_per_s),
      MakeColumn("tops", &ResultRow::tops),
      MakeColumn("roofline_fraction", &ResultRow::roofline_fraction),
      MakeColumn("bound", &ResultRow::bound),
      MakeColumn("bandwidth_gb_per_s", &ResultRow::bandwidth_gb_per_s),
      MakeColumn("cpu", &ResultRow::cpu),
      MakeColumn("cpu_model", &ResultRow::cpu_model),
      MakeColumn("isa", &ResultRow::isa),
      MakeColumn("working_set_bytes", &ResultRow::working_set_bytes),
      MakeColumn("l3_bytes", &ResultRow::l3_bytes),
      MakeColumn("note", &ResultRow::note),
  };
  return *columns;
}

std::string CsvField(std::string field) {
  std::replace(field.begin(), field.end(), '\n', ' ');
  if (field.find_first_of(",\"") == std::string::npos) return field;
  std::string quoted = "\"";
  for (char c : field) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

// One CSV record (quotes doubled inside quoted fields; no newlines in fields).
std::optional<std::vector<std::string>> SplitCsvLine(absl::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  if (quoted) return std::nullopt;
  return fields;
}

absl::StatusOr<ResultRow> ParseRecord(absl::string_view line, const std::string& where) {
  std::optional<std::vector<std::string>> fields = SplitCsvLine(line);
  const std::vector<Column>& columns = Columns();
  if (!fields || fields->size() != columns.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: expected %d comma-separated fields, got %d", where, columns.size(),
        fields ? fields->size() : 0));
  }
  ResultRow row;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (!columns[i].set((*fields)[i], row)) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: column %s: bad value \"%s\"", where,
                                                        columns[i].name, (*fields)[i]));
    }
  }
  return row;
}

// "-" where nothing was measured.
std::string Num(double value, const char* format) {
  if (std::isnan(value)) return "-";
  char text[64];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

std::string SpreadPercent(const ResultRow& r) {
  if (!(r.time_median_us > 0)) return "-";
  return Num(100 * (r.time_max_us - r.time_min_us) / r.time_median_us, "%.1f");
}

// The interquartile range over the median, flagged where it makes the timing noisy.
std::string NoisePercent(const ResultRow& r) {
  const double noise = TimingNoise(r);
  if (std::isnan(noise)) return "-";
  return absl::StrFormat("%.1f%s", 100 * noise, NoisyTiming(r) ? " **noisy**" : "");
}

std::string MarkdownTable(const std::vector<const ResultRow*>& rows, bool moe) {
  std::string out = absl::StrCat(
      "| # | model | ", moe ? "experts / top-k" : "proj [N, K]",
      " | distribution | seed | format | G | path | kernel | qlen | threads | ", moe ? "TP | " : "",
      "bits/w | ", moe ? "" : "W rel.err | ",
      "rel.err | max abs | cosine | median us | spread % | IQR % | tokens/s | GB/s | TOPS | "
      "roofline |\n");
  constexpr int kColumns = 23;  // both tables: moe swaps W rel.err for TP
  for (int i = 0; i < kColumns; ++i) out += i == 0 ? "|---|" : "---|";
  out += "\n";
  for (const ResultRow* r : rows) {
    const bool up = r->projection == "up";
    std::vector<std::string> cells = {
        absl::StrCat(r->case_index), r->model,
        moe ? absl::StrFormat("%d / %d", r->experts, r->top_k)
            : absl::StrFormat("%s [%d, %d]", r->projection, up ? r->intermediate : r->hidden,
                              up ? r->hidden : r->intermediate),
        r->distribution, absl::StrCat(r->seed), r->format, absl::StrCat(r->group_size), r->path,
        r->kernel, absl::StrCat(r->qlen), absl::StrCat(r->threads)};
    if (moe) cells.push_back(absl::StrCat(r->tp_parts));
    cells.push_back(Num(r->bits_per_weight, "%.2f"));
    if (!moe) cells.push_back(Num(r->weight_rel_err, "%.5f"));
    for (std::string cell :
         {Num(r->rel_err, "%.5f"), Num(r->max_abs_err, "%.4g"), Num(r->cosine, "%.6f"),
          Num(r->time_median_us, "%.1f"), SpreadPercent(*r), NoisePercent(*r),
          Num(r->tokens_per_s, "%.4g"),
          Num(r->gb_per_s, "%.2f"), Num(r->tops, "%.3f"), Num(r->roofline_fraction, "%.2f")}) {
      cells.push_back(std::move(cell));
    }
    out += absl::StrCat("| ", absl::StrJoin(cells, " | "), " |\n");
  }
  return out;
}

}  // namespace

std::string CsvHeader() {
  std::vector<const char*> names;
  for (const Column& c : Columns()) names.push_back(c.name);
  return absl::StrJoin(names, ",");
}

std::string CsvLine(const ResultRow& row) {
  std::vector<std::string> fields;
  for (const Column& c : Columns()) fields.push_back(CsvField(c.get(row)));
  return absl::StrJoin(fields, ",");
}

absl::StatusOr<std::vector<ResultRow>> ParseCsv(std::string_view text, std::string_view file) {
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::string_view(text.data(), text.size()), '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != CsvHeader()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the first line is not the header //experiments:compare writes", file));
  }
  std::vector<ResultRow> rows;
  for (size_t i = 1; i < lines.size(); ++i) {
    absl::StatusOr<ResultRow> row = ParseRecord(lines[i], absl::StrFormat("%s:%d", file, i + 1));
    if (!row.ok()) return row.status();
    rows.push_back(*std::move(row));
  }
  return rows;
}

ResultRow RoundTripped(const ResultRow& row) {
  // A line written by CsvLine always parses.
  return *ParseRecord(CsvLine(row), "RoundTripped");
}

std::vector<RowField> RowFields(const ResultRow& row) {
  std::vector<RowField> fields;
  for (const Column& c : Columns()) fields.push_back({c.name, c.get(row), c.number});
  return fields;
}

std::string MarkdownReport(const std::vector<ResultRow>& rows,
                           const std::vector<std::string>& plot_links) {
  if (rows.empty()) return "# Sweep\n\nNo finished cases.\n";
  const ResultRow& first = rows.front();
  double bandwidth = kNotMeasured;
  for (const ResultRow& r : rows) {
    if (!std::isnan(r.bandwidth_gb_per_s) && !(r.bandwidth_gb_per_s <= bandwidth)) {
      bandwidth = r.bandwidth_gb_per_s;
    }
  }
  std::string out = absl::StrFormat(
      "# Sweep `%s`\n\n%d of %d cases. CPU: %s, %s. Read bandwidth (probe, most threads): %s "
      "GB/s.\n",
      first.sweep, rows.size(), first.case_count, first.cpu_model, first.cpu,
      Num(bandwidth, "%.1f"));
  if (std::string summary = MarkdownSummary(rows); !summary.empty()) {
    absl::StrAppend(&out, "\n", summary);
  }
  std::vector<const ResultRow*> gemm, moe, skipped;
  for (const ResultRow& r : rows) {
    if (!r.note.empty()) {
      skipped.push_back(&r);
    } else {
      (r.measure == "moe" ? moe : gemm).push_back(&r);
    }
  }
  if (!gemm.empty()) {
    absl::StrAppend(&out, "\n## GEMM: one projection, weights [N, K], qlen tokens\n\n",
                    MarkdownTable(gemm, false));
  }
  if (!moe.empty()) {
    absl::StrAppend(&out, "\n## MoE layer: gate, up, SiLU, down of top-k experts per token\n\n",
                    MarkdownTable(moe, true));
  }
  if (!skipped.empty()) {
    absl::StrAppend(&out, "\n## Skipped\n\n");
    for (const ResultRow* r : skipped) {
      absl::StrAppendFormat(&out, "- case %d (%s %s %s %s): %s\n", r->case_index, r->measure,
                            r->model, r->format, r->path, r->note);
    }
  }
  absl::StrAppendFormat(
      &out,
      "\nrel.err, max abs, cosine: the output against Eigen in double on the float weights and "
      "activations (first tokens of each call). W rel.err: the dequantized weights against the "
      "float ones. median us, spread %%, IQR %%: median time of a call, (max - min) / median and "
      "(third - first quartile) / median over the repetitions (noisy above %.0f%%). GB/s: packed "
      "weight bytes streamed per second. TOPS: 2 x MACs per second. roofline: the larger of the "
      "memory roof (bytes at the probed bandwidth) and the compute roof (operations at the ISA's "
      "peak) over the measured time; 1 = on the roof.\n",
      100 * kNoisyTimingThreshold);
  if (!plot_links.empty()) {
    absl::StrAppend(&out, "\n## Plots\n\n");
    for (const std::string& link : plot_links) absl::StrAppendFormat(&out, "![%s](%s)\n", link, link);
  }
  return out;
}

std::string TextTableHeader() {
  return absl::StrFormat("%5s %-4s %-14s %-12s %-15s %4s %-9s %-28s %5s %3s | %9s %9s %9s | %10s %6s %10s %7s %5s",
                         "case", "meas", "model", "distrib.", "format", "G", "path", "kernel",
                         "qlen", "thr", "rel.err", "max abs", "cosine", "median us", "spr%",
                         "tokens/s", "GB/s", "roof");
}

std::string TextTableLine(const ResultRow& r) {
  std::string line = absl::StrFormat("%5d %-4s %-14s %-12s %-15s %4d %-9s %-28s %5d %3d | ",
                                     r.case_index, r.measure, r.model, r.distribution, r.format,
                                     r.group_size, r.path, r.kernel, r.qlen, r.threads);
  if (!r.note.empty()) return line + r.note;
  return line + absl::StrFormat("%9s %9s %9s | %10s %6s %10s %7s %5s", Num(r.rel_err, "%.5f"),
                                Num(r.max_abs_err, "%.3g"), Num(r.cosine, "%.6f"),
                                Num(r.time_median_us, "%.1f"), SpreadPercent(r),
                                Num(r.tokens_per_s, "%.4g"), Num(r.gb_per_s, "%.2f"),
                                Num(r.roofline_fraction, "%.2f"));
}

}  // namespace fp4moe::experiments
