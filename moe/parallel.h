#ifndef FP4MOE_MOE_PARALLEL_H_
#define FP4MOE_MOE_PARALLEL_H_

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/status/status.h"

#include "moe/numa.h"

namespace fp4moe::moe {

// Distributes the items of tensor-parallel parts over an OpenMP team. A Forward opens one
// parallel region (Parallel) and runs its phases inside it (ForEach, with `omp barrier`
// between them where a phase needs the previous one's results): one fork and join per call instead
// of one per phase. Items are claimed one at a time (dynamic balance: a part's heavy experts
// do not stall the team); each thread serves its home part first and then helps the others,
// so that with several NUMA nodes, where threads are bound to their home part's node, most
// work stays local.
class PartScheduler {
 public:
  // Phases one region can run, each with its own counters.
  static constexpr int kMaxPhases = 4;

  PartScheduler(int num_threads, int parts, int numa_nodes)
      : num_threads_(num_threads),
        parts_(parts),
        numa_nodes_(numa_nodes),
        next_(std::make_unique<Counter[]>(kMaxPhases * parts)) {}

  int parts() const { return parts_; }

  // Runs body() on every thread of a team of at most min(num_threads, max_items) threads,
  // after resetting every phase's counters; body calls ForEach.
  template <typename Body>
  void Parallel(int64_t max_items, const Body& body) {
    for (int i = 0; i < kMaxPhases * parts_; ++i) {
      next_[i].value.store(0, std::memory_order_relaxed);
    }
    const int threads = static_cast<int>(std::clamp<int64_t>(max_items, 1, num_threads_));
#pragma omp parallel num_threads(threads)
    {
      if (numa_nodes_ > 1) BindThreadToNode(HomePart() % numa_nodes_);
      body();
    }
  }

  // Inside Parallel, on every thread: runs fn(part, item) for every item of every part's
  // phase `phase` (each item once, by whichever thread claims it). Returns when no item is
  // left to claim; others may still be running (an `omp barrier` waits for them).
  template <typename Fn>
  void ForEach(int phase, int64_t items_per_part, const Fn& fn) {
    const int home = HomePart();
    for (int q = 0; q < parts_; ++q) {
      const int part = (home + q) % parts_;
      std::atomic<int64_t>& next = next_[phase * parts_ + part].value;
      for (int64_t item = next.fetch_add(1, std::memory_order_relaxed); item < items_per_part;
           item = next.fetch_add(1, std::memory_order_relaxed)) {
        fn(part, item);
      }
    }
  }

 private:
  // Its own cache line: threads hammering one phase's counter do not slow another's.
  struct alignas(64) Counter {
    std::atomic<int64_t> value{0};
  };

  int HomePart() const { return omp_get_thread_num() * parts_ / omp_get_num_threads(); }

  int num_threads_, parts_, numa_nodes_;
  std::unique_ptr<Counter[]> next_;  // [kMaxPhases][parts]
};

// The first error any thread of a parallel phase met (later ones are dropped).
class FirstError {
 public:
  void Record(absl::Status status) {
    if (status.ok()) return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (first_.ok()) first_ = std::move(status);
  }
  absl::Status status() const { return first_; }

 private:
  std::mutex mutex_;
  absl::Status first_;
};

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_PARALLEL_H_
