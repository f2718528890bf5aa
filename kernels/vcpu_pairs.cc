#include "kernels/vcpu_pairs.h"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace fp4moe::kernels {
namespace {

using Clock = std::chrono::steady_clock;

struct Placed {
  const PinnedLoop* work;
  int cpu;
};

// Runs each work on its own thread pinned to its CPU, all started together after every thread
// is pinned and stopped at one deadline `seconds` later; the units per second of each.
absl::StatusOr<std::vector<double>> RunPinned(const std::vector<Placed>& placed, double seconds) {
  for (const Placed& p : placed) {
    if (p.cpu < 0 || p.cpu >= CPU_SETSIZE) {
      return absl::InvalidArgumentError(
          absl::StrFormat("CPU %d: out of range [0, %d)", p.cpu, CPU_SETSIZE));
    }
  }
  const int n = static_cast<int>(placed.size());
  std::vector<double> rates(n, 0.0);
  std::vector<int> pin_errors(n, 0);
  std::atomic<int> pinned{0};
  std::atomic<bool> go{false};
  Clock::time_point start;
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(placed[i].cpu, &set);
      pin_errors[i] = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
      // Every thread waits for the others to be pinned: a pair must run at once.
      if (pinned.fetch_add(1) + 1 == n) {
        start = Clock::now();
        go.store(true, std::memory_order_release);
      }
      while (!go.load(std::memory_order_acquire)) {
      }
      if (pin_errors[i] != 0) return;
      const Clock::time_point deadline =
          start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
      const PinnedLoop& work = *placed[i].work;
      volatile double sink = 0;
      double units = 0;
      while (Clock::now() < deadline) {
        sink = work.loop(work.iterations);
        units += work.step_units * static_cast<double>(work.iterations);
      }
      (void)sink;
      rates[i] = units / std::chrono::duration<double>(Clock::now() - start).count();
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < n; ++i) {
    if (pin_errors[i] != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "CPU %d: cannot pin a thread to it (%s)", placed[i].cpu, std::strerror(pin_errors[i])));
    }
  }
  return rates;
}

}  // namespace

std::vector<int> AllowedCpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

absl::StatusOr<double> PinnedRate(const PinnedLoop& work, int cpu, double seconds) {
  absl::StatusOr<std::vector<double>> rates = RunPinned({{&work, cpu}}, seconds);
  if (!rates.ok()) return rates.status();
  return (*rates)[0];
}

absl::StatusOr<PairRates> PinnedPairRates(const PinnedLoop& a, int cpu_a, const PinnedLoop& b,
                                          int cpu_b, double seconds) {
  absl::StatusOr<std::vector<double>> rates = RunPinned({{&a, cpu_a}, {&b, cpu_b}}, seconds);
  if (!rates.ok()) return rates.status();
  return PairRates{(*rates)[0], (*rates)[1]};
}

}  // namespace fp4moe::kernels
