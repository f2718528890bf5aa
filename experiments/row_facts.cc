#include "experiments/row_facts.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace fp4moe::experiments {
namespace {

void AddOnce(std::vector<std::string>& list, const std::string& item) {
  if (!item.empty() && std::find(list.begin(), list.end(), item) == list.end()) {
    list.push_back(item);
  }
}

}  // namespace

std::string FormatLabel(const ResultRow& row) {
  return row.format == "int4_k2" ? absl::StrFormat("int4_k2(G=%d)", row.group_size) : row.format;
}

bool Measured(const ResultRow& row) { return row.note.empty(); }

bool Timed(const ResultRow& row) { return Measured(row) && !std::isnan(row.tokens_per_s); }

double TimingNoise(const ResultRow& row) {
  if (!(row.time_median_us > 0)) return kNotMeasured;
  return (row.time_q3_us - row.time_q1_us) / row.time_median_us;
}

bool NoisyTiming(const ResultRow& row) { return TimingNoise(row) > kNoisyTimingThreshold; }

Regime RegimeOf(const ResultRow& row) {
  if (row.l3_bytes <= 0 || row.working_set_bytes <= 0) return Regime::kUnknown;
  return row.working_set_bytes > row.l3_bytes ? Regime::kDram : Regime::kCache;
}

std::string ByteSize(int64_t bytes) {
  if (bytes >= (int64_t{1} << 30)) return absl::StrFormat("%.1f GiB", bytes / double(1 << 30));
  if (bytes >= (int64_t{1} << 20)) return absl::StrFormat("%.1f MiB", bytes / double(1 << 20));
  return absl::StrFormat("%.1f KiB", bytes / 1024.0);
}

std::string MachineLabel(const std::vector<const ResultRow*>& rows) {
  std::vector<std::string> models, isas;
  for (const ResultRow* row : rows) {
    AddOnce(models, row->cpu_model);
    if (!Measured(*row)) continue;
    for (absl::string_view isa : absl::StrSplit(row->isa, '+', absl::SkipEmpty())) {
      AddOnce(isas, std::string(isa));
    }
  }
  std::string label = models.empty() ? "unknown CPU" : absl::StrJoin(models, " / ");
  if (!isas.empty()) absl::StrAppend(&label, ", ", absl::StrJoin(isas, "+"), " kernels");
  return label;
}

std::string RegimeLabel(const std::vector<const ResultRow*>& rows) {
  bool cache = false, dram = false;
  int64_t least = 0, most = 0, l3 = 0;
  for (const ResultRow* row : rows) {
    if (!Timed(*row)) continue;
    const Regime regime = RegimeOf(*row);
    if (regime == Regime::kUnknown) continue;
    (regime == Regime::kDram ? dram : cache) = true;
    least = least == 0 ? row->working_set_bytes : std::min(least, row->working_set_bytes);
    most = std::max(most, row->working_set_bytes);
    l3 = std::max(l3, row->l3_bytes);
  }
  if (!cache && !dram) return "";
  const std::string where = cache && dram ? "weights in cache and from DRAM"
                            : cache       ? "weights in cache"
                                          : "weights from DRAM";
  const std::string working_set =
      least == most ? ByteSize(most) : absl::StrCat(ByteSize(least), " to ", ByteSize(most));
  return absl::StrFormat("%s (working set %s, L3 %s)", where, working_set, ByteSize(l3));
}

std::vector<const ResultRow*> Pointers(const std::vector<ResultRow>& rows) {
  std::vector<const ResultRow*> pointers;
  for (const ResultRow& row : rows) pointers.push_back(&row);
  return pointers;
}

}  // namespace fp4moe::experiments
