// Which of this machine's CPUs share a physical core, measured rather than read: every pair of
// allowed CPUs runs a probe loop on two pinned threads at once, and each thread's rate is set
// against its rate alone (kernels/vcpu_pairs.h). Hyperthreads of one core get about half each;
// separate cores keep nearly all. The lent Xeon's VM reports one thread per core while its 16
// vCPUs run tile products at half their one-thread rate together: this tells whether its vCPUs
// come in such pairs, and so whether a design that splits the decode and the tile products
// between the two threads of a core could work there.
//
//   bazel run -c opt //benchmarks:vcpu_pairs -- [--kinds=tiles,vector,tiles_beside_vector]
//
// Kinds: `tiles` 2 x 2 BF16 tile products on both threads (AMX only), `vector` the vector probe's
// chains on both (AVX-512 vdpbf16ps, else AVX2 FMA), `tiles_beside_vector` tile products on the
// row's CPU beside vector chains on the column's: what vector work on the other CPU takes from
// the tile products. Each table gives, per pair, the share (%) of its rate alone that the row's
// CPU kept (for the symmetric kinds, the lower of the two threads' shares), each lone rate
// measured just before its pair, the best of --rounds.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "benchmarks/benchmark_helpers.h"
#include "kernels/cpu_features.h"
#include "kernels/probe_chains.h"
#include "kernels/vcpu_pairs.h"

ABSL_FLAG(std::vector<std::string>, kinds, {},
          "tiles, vector, tiles_beside_vector (default: all this CPU runs)");
ABSL_FLAG(int64_t, window_ms, 50, "milliseconds each lone thread or pair runs");
ABSL_FLAG(int64_t, rounds, 2,
          "runs of each lone thread and pair, the best kept (the lent hosts' other tenants "
          "slow single runs)");
ABSL_FLAG(int64_t, sibling_percent, 70,
          "pairs whose threads keep less than this share (%) of their rate alone are listed as "
          "sharing a core");

namespace fp4moe::kernels {
namespace {

// About a millisecond a call on one thread of the Xeon.
constexpr PinnedLoop kTiles = {Bf16TileBlocksAmx, 1 << 15, 4 * 2.0 * 16 * 16 * 32};
constexpr PinnedLoop kAvx512Chains = {Bf16DotChainsAvx512, 1 << 18,
                                      kDotChainsAvx512 * 16 * 2 * 2.0};
double Avx2Chains(int64_t iterations) { return FmaChainsAvx2(iterations); }
constexpr PinnedLoop kAvx2Chains = {Avx2Chains, 1 << 18, kFmaChains * kFmaLanes * 2.0};

// The OS's view, for comparison: each CPU's thread_siblings_list.
std::string OsSiblings(const std::vector<int>& cpus) {
  std::vector<std::string> sets;
  for (int cpu : cpus) {
    std::ifstream file(
        absl::StrCat("/sys/devices/system/cpu/cpu", cpu, "/topology/thread_siblings_list"));
    std::string list;
    if (!std::getline(file, list)) return "not given";
    list = std::string(absl::StripAsciiWhitespace(list));
    if (sets.empty() || sets.back() != list) sets.push_back(list);
  }
  return absl::StrJoin(sets, " ");
}

struct Kind {
  std::string name;
  const PinnedLoop* row;     // on the row's CPU
  const PinnedLoop* column;  // on the column's
  bool symmetric;
};

// What the pair (a, b) keeps of its rates alone in one round: each lone rate measured right
// before the pair, so that the hosts' drift (one vCPU's tile rate moved 2.4x within a minute on
// the lent Xeon) does not pass for sharing; for the symmetric kinds the lower of the two shares.
// Keeps each CPU's fastest lone rate of the row's loop in `fastest_alone`.
absl::StatusOr<double> KeptShare(const Kind& kind, int a, int b, double seconds,
                                 std::map<int, double>& fastest_alone) {
  absl::StatusOr<double> alone_a = PinnedRate(*kind.row, a, seconds);
  if (!alone_a.ok()) return alone_a.status();
  fastest_alone[a] = std::max(fastest_alone[a], *alone_a);
  absl::StatusOr<double> alone_b = 0.0;
  if (kind.symmetric) alone_b = PinnedRate(*kind.column, b, seconds);
  if (!alone_b.ok()) return alone_b.status();
  if (kind.symmetric) fastest_alone[b] = std::max(fastest_alone[b], *alone_b);
  absl::StatusOr<PairRates> pair = PinnedPairRates(*kind.row, a, *kind.column, b, seconds);
  if (!pair.ok()) return pair.status();
  const double kept = pair->a / *alone_a;
  return kind.symmetric ? std::min(kept, pair->b / *alone_b) : kept;
}

int Run() {
  const CpuFeatures& cpu = DetectedCpuFeatures();
  const PinnedLoop* vector = cpu.avx512 ? &kAvx512Chains : cpu.avx2 ? &kAvx2Chains : nullptr;
  std::map<std::string, Kind> known;
  if (vector != nullptr) known["vector"] = {"vector", vector, vector, true};
  if (cpu.amx) {
    known["tiles"] = {"tiles", &kTiles, &kTiles, true};
    known["tiles_beside_vector"] = {"tiles_beside_vector", &kTiles, vector, false};
  }
  std::vector<std::string> names = absl::GetFlag(FLAGS_kinds);
  if (names.empty()) {
    for (const char* name : {"tiles", "vector", "tiles_beside_vector"}) {
      if (known.count(name) > 0) names.push_back(name);
    }
  }
  for (const std::string& name : names) {
    if (known.count(name) == 0) {
      std::fprintf(stderr, "vcpu_pairs: kind '%s' is not one this CPU runs (%s)\n", name.c_str(),
                   cpu.ToString().c_str());
      return 1;
    }
  }
  const double seconds = absl::GetFlag(FLAGS_window_ms) / 1e3;
  const int rounds = static_cast<int>(absl::GetFlag(FLAGS_rounds));
  const double sibling_share = absl::GetFlag(FLAGS_sibling_percent) / 100.0;
  const std::vector<int> cpus = AllowedCpus();
  if (cpus.size() == 1 && std::getenv("OMP_PROC_BIND") != nullptr) {
    // libgomp, linked in, pins the first thread to one place when it loads.
    std::printf("vcpu_pairs: one CPU allowed with OMP_PROC_BIND set: run without it\n");
  }
  std::printf(
      "vcpu_pairs: %zu CPUs allowed (%s); OS thread siblings: %s; %s; window %.0f ms, best of "
      "%d\n",
      cpus.size(), absl::StrJoin(cpus, ",").c_str(), OsSiblings(cpus).c_str(),
      cpu.ToString().c_str(), seconds * 1e3, rounds);
  for (const std::string& name : names) {
    const Kind& kind = known[name];
    std::map<int, double> fastest_alone;  // each CPU's best lone rate of the row's loop
    std::vector<std::string> rows, siblings;
    for (int a : cpus) {
      std::string line = absl::StrFormat("%5d", a);
      for (int b : cpus) {
        if (a == b || (kind.symmetric && b < a)) {
          line += "    .";
          continue;
        }
        double share = 0;
        for (int round = 0; round < rounds; ++round) {
          absl::StatusOr<double> kept = KeptShare(kind, a, b, seconds, fastest_alone);
          if (!kept.ok()) {
            std::fprintf(stderr, "vcpu_pairs: %s\n", std::string(kept.status().message()).c_str());
            return 1;
          }
          share = std::max(share, *kept);
        }
        absl::StrAppendFormat(&line, " %4.0f", 100 * share);
        if (share < sibling_share) siblings.push_back(absl::StrCat(a, "+", b));
      }
      rows.push_back(line);
    }
    std::vector<std::string> alone;
    for (int c : cpus) {
      if (fastest_alone[c] > 0) {
        alone.push_back(absl::StrFormat("%d: %.3g", c, fastest_alone[c] / 1e12));
      }
    }
    std::printf("\n%s: fastest rate alone (T units/s) %s\n", name.c_str(),
                absl::StrJoin(alone, ", ").c_str());
    std::string header = "  cpu";
    for (int c : cpus) absl::StrAppendFormat(&header, " %4d", c);
    std::printf("%s\n%s\n", header.c_str(), absl::StrJoin(rows, "\n").c_str());
    std::printf("%s: pairs below %.0f%% of alone: %s\n", name.c_str(), 100 * sibling_share,
                siblings.empty() ? "none" : absl::StrJoin(siblings, " ").c_str());
  }
  return 0;
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::Status flags = CheckFlagRange("window_ms", absl::GetFlag(FLAGS_window_ms), 1, 10000);
  if (flags.ok()) flags = CheckFlagRange("rounds", absl::GetFlag(FLAGS_rounds), 1, 100);
  if (flags.ok()) {
    flags = CheckFlagRange("sibling_percent", absl::GetFlag(FLAGS_sibling_percent), 1, 100);
  }
  if (!flags.ok()) {
    std::fprintf(stderr, "vcpu_pairs: %s\n", std::string(flags.message()).c_str());
    return 1;
  }
  return Run();
}

}  // namespace
}  // namespace fp4moe::kernels

int main(int argc, char** argv) { return fp4moe::kernels::Main(argc, argv); }
