#include "experiments/shard_merge.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace fp4moe::experiments {
namespace {

// What identifies the run a row comes from.
std::string RunOf(const ResultRow& r) {
  return absl::StrFormat("sweep '%s' (%d cases, config_hash %s), shard %d of %d", r.sweep,
                         r.case_count, r.config_hash, r.shard_index, r.shard_count);
}

// Every row of one file is of one run, and its case is in that run's shard.
absl::Status CheckOneShard(const ShardCsv& shard) {
  const ResultRow& first = shard.rows.front();
  if (first.shard_count < 1 || first.shard_index < 0 || first.shard_index >= first.shard_count) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: shard %d of %d is not a shard", shard.file, first.shard_index, first.shard_count));
  }
  for (const ResultRow& row : shard.rows) {
    if (RunOf(row) != RunOf(first)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: case %d is of %s, case %d of %s: a shard's CSV holds the rows of one run",
          shard.file, first.case_index, RunOf(first), row.case_index, RunOf(row)));
    }
    if (row.case_index < 0 || row.case_index >= row.case_count) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: case %d is out of range: the sweep has cases 0 to %d", shard.file,
                          row.case_index, row.case_count - 1));
    }
    if (row.case_index % row.shard_count != row.shard_index) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: case %d is not in shard %d of %d (case %% %d = %d)", shard.file, row.case_index,
          row.shard_index, row.shard_count, row.shard_count, row.case_index % row.shard_count));
    }
  }
  return absl::OkStatus();
}

// The shard of `shard` fits with that of `reference` (both files with rows).
absl::Status CheckSameRun(const ShardCsv& reference, const ShardCsv& shard) {
  const ResultRow& a = reference.rows.front();
  const ResultRow& b = shard.rows.front();
  if (a.sweep != b.sweep || a.case_count != b.case_count) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s and %s are of different sweeps: '%s' (%d cases) and '%s' (%d cases)",
        reference.file, shard.file, a.sweep, a.case_count, b.sweep, b.case_count));
  }
  if (a.config_hash != b.config_hash) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s and %s are shards of different configs (config_hash %s and %s): run every shard "
        "on the same config",
        reference.file, shard.file, a.config_hash, b.config_hash));
  }
  if (a.shard_count != b.shard_count) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is shard %d of %d and %s shard %d of %d: shards of different counts", reference.file,
        a.shard_index, a.shard_count, shard.file, b.shard_index, b.shard_count));
  }
  if (a.shard_index == b.shard_index) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s and %s are both shard %d of %d: give each shard once",
                        reference.file, shard.file, a.shard_index, a.shard_count));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<ResultRow>> MergeShards(const std::vector<ShardCsv>& shards) {
  std::map<int64_t, const ShardCsv*> by_index;
  for (const ShardCsv& shard : shards) {
    if (shard.rows.empty()) continue;
    if (absl::Status s = CheckOneShard(shard); !s.ok()) return s;
    for (const auto& [index, other] : by_index) {
      if (absl::Status s = CheckSameRun(*other, shard); !s.ok()) return s;
    }
    by_index[shard.rows.front().shard_index] = &shard;
  }
  if (!by_index.empty()) {
    const int64_t count = by_index.begin()->second->rows.front().shard_count;
    if (static_cast<int64_t>(shards.size()) != count) {
      std::vector<int64_t> missing;
      for (int64_t i = 0; i < count; ++i) {
        if (by_index.count(i) == 0) missing.push_back(i);
      }
      return absl::InvalidArgumentError(absl::StrFormat(
          "%d shard CSVs given for a sweep run as %d shards (no rows of shard %s): give each "
          "shard's CSV once",
          shards.size(), count, missing.empty() ? "-" : absl::StrJoin(missing, ", ")));
    }
  }

  std::vector<ResultRow> rows;
  for (const ShardCsv& shard : shards) {
    for (ResultRow row : shard.rows) {
      row.shard_index = 0;
      row.shard_count = 1;
      rows.push_back(std::move(row));
    }
  }
  std::stable_sort(rows.begin(), rows.end(), [](const ResultRow& a, const ResultRow& b) {
    return a.case_index < b.case_index;
  });
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i].case_index == rows[i - 1].case_index) {
      return absl::InvalidArgumentError(
          absl::StrFormat("case %d appears twice in one shard's CSV", rows[i].case_index));
    }
  }
  // Accuracy is the same anywhere; speed figures are only comparable from one machine.
  const ResultRow* timed = nullptr;
  for (const ResultRow& row : rows) {
    if (std::isnan(row.time_median_us)) continue;
    if (timed != nullptr && row.cpu != timed->cpu) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "speed rows from two machines: case %d on '%s', case %d on '%s'; run the speed "
          "shards of a sweep on one machine",
          timed->case_index, timed->cpu, row.case_index, row.cpu));
    }
    timed = &row;
  }
  return rows;
}

}  // namespace fp4moe::experiments
