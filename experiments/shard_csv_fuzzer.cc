// libFuzzer target: any bytes given to merge's CSV reader, as one shard or split at the first
// NUL byte into two, give merged rows and their report or an error, never a crash. Built and
// run by tools/fuzz.sh (clang, outside Bazel).

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "experiments/report_writer.h"
#include "experiments/shard_merge.h"

namespace fp4moe::experiments {
namespace {

void MergeAndReport(const std::vector<std::string_view>& texts) {
  std::vector<ShardCsv> shards;
  for (std::string_view text : texts) {
    absl::StatusOr<std::vector<ResultRow>> rows = ParseCsv(text, "fuzz.csv");
    if (!rows.ok()) return;
    shards.push_back({"fuzz.csv", *std::move(rows)});
  }
  absl::StatusOr<std::vector<ResultRow>> merged = MergeShards(shards);
  if (merged.ok() && !merged->empty()) (void)MarkdownReport(*merged, {});
}

}  // namespace
}  // namespace fp4moe::experiments

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fp4moe::experiments::MergeAndReport({text});
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos) {
    fp4moe::experiments::MergeAndReport({text.substr(0, nul), text.substr(nul + 1)});
  }
  return 0;
}
