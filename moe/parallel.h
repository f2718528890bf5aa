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

// Runs fn(part, item) for every item of every tensor-parallel part on an OpenMP team.
// Items are claimed one at a time (dynamic balance: a part's heavy experts do not stall the
// team); each thread serves its home part first and then helps the others, so that with
// several NUMA nodes, where threads are bound to their home part's node, most work stays
// local. Returns after every item ran.
class PartScheduler {
 public:
  PartScheduler(int num_threads, int parts, int numa_nodes)
      : num_threads_(num_threads),
        parts_(parts),
        numa_nodes_(numa_nodes),
        next_(std::make_unique<std::atomic<int64_t>[]>(parts)) {}

  template <typename Fn>
  void Run(int64_t items_per_part, const Fn& fn) {
    if (items_per_part <= 0) return;
    for (int p = 0; p < parts_; ++p) next_[p].store(0, std::memory_order_relaxed);
    const int threads =
        static_cast<int>(std::min<int64_t>(num_threads_, items_per_part * parts_));
#pragma omp parallel num_threads(threads)
    {
      const int home = omp_get_thread_num() * parts_ / omp_get_num_threads();
      if (numa_nodes_ > 1) BindThreadToNode(home % numa_nodes_);
      for (int q = 0; q < parts_; ++q) {
        const int part = (home + q) % parts_;
        for (int64_t item = next_[part].fetch_add(1, std::memory_order_relaxed);
             item < items_per_part;
             item = next_[part].fetch_add(1, std::memory_order_relaxed)) {
          fn(part, item);
        }
      }
    }
  }

 private:
  int num_threads_, parts_, numa_nodes_;
  std::unique_ptr<std::atomic<int64_t>[]> next_;
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
