#include "experiments/report_json.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "experiments/row_facts.h"
#include "nlohmann/json.hpp"

namespace fp4moe::experiments {
namespace {

using nlohmann::json;

// A CSV number as JSON: integers exactly (seeds are unsigned 64-bit), the rest as doubles.
json Number(const std::string& text) {
  if (text.empty()) return nullptr;
  int64_t integer = 0;
  if (absl::SimpleAtoi(text, &integer)) return integer;
  uint64_t unsigned_integer = 0;
  if (absl::SimpleAtoi(text, &unsigned_integer)) return unsigned_integer;
  double real = 0;
  if (absl::SimpleAtod(text, &real)) return real;
  return text;  // unreachable for text CsvLine writes
}

std::string BenchmarkName(const ResultRow& r) {
  std::string name = absl::StrFormat("%s/%s/%s/%s/seed:%d/%s/G:%d/%s/qlen:%d/threads:%d", r.measure,
                                     r.model, r.projection, r.distribution, r.seed, r.format,
                                     r.group_size, r.path, r.qlen, r.threads);
  if (r.tp_parts > 1) absl::StrAppendFormat(&name, "/tp:%d", r.tp_parts);
  return name;
}

json Context(const std::vector<ResultRow>& rows) {
  json context = json::object();
  json hosts = json::array();
  int64_t l3 = 0;
  for (const ResultRow& r : rows) {
    if (std::find(hosts.begin(), hosts.end(), r.cpu) == hosts.end()) hosts.push_back(r.cpu);
    l3 = std::max(l3, r.l3_bytes);
  }
  context["sweep"] = rows.empty() ? "" : rows.front().sweep;
  context["case_count"] = rows.empty() ? 0 : rows.front().case_count;
  context["finished_cases"] = rows.size();
  context["machine"] = MachineLabel(Pointers(rows));
  context["hosts"] = hosts;
  context["caches"] = json::array();
  if (l3 > 0) {
    context["caches"].push_back({{"type", "Unified"}, {"level", 3}, {"size", l3}});
  }
  return context;
}

}  // namespace

std::string JsonReport(const std::vector<ResultRow>& rows) {
  json benchmarks = json::array();
  for (const ResultRow& r : rows) {
    json row = json::object();
    row["name"] = BenchmarkName(r);
    row["run_name"] = row["name"];
    row["run_type"] = "iteration";
    if (Timed(r)) {
      row["real_time"] = r.time_median_us;
      row["time_unit"] = "us";
      row["items_per_second"] = r.tokens_per_s;
      row["bytes_per_second"] = r.gb_per_s * 1e9;
    }
    for (const RowField& field : RowFields(r)) {
      row[field.name] = field.number ? Number(field.text) : json(field.text);
    }
    benchmarks.push_back(std::move(row));
  }
  const json report = {{"context", Context(rows)}, {"benchmarks", benchmarks}};
  // Names from a config or a host may hold bytes that are not UTF-8: replaced, not thrown on.
  return report.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace fp4moe::experiments
