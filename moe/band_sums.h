#ifndef FP4MOE_MOE_BAND_SUMS_H_
#define FP4MOE_MOE_BAND_SUMS_H_

// The prefill's output sums band by band (moe/down_bands.h): a band's sum chunks can be claimed
// once every down item of the band is done, in every part, and its ring slot serves a later
// band once they are all done. A chunk is claimed only when its band is ready, so no thread
// ever waits in one; threads that wait for something else run chunks meanwhile.

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/functional/function_ref.h"

namespace fp4moe::moe {

class BandSums {
 public:
  explicit BandSums(int max_bands)
      : downs_left_(std::make_unique<Counter[]>(max_bands)),
        chunks_done_(std::make_unique<Counter[]>(max_bands)) {}

  // Readies a call of `bands` bands, `chunks` sum chunks each, in a ring of `slots` slots;
  // SetDowns must then give every band its count of down items.
  void Reset(int bands, int64_t chunks, int slots) {
    bands_ = bands;
    chunks_ = chunks;
    slots_ = slots;
    next_.store(0, std::memory_order_relaxed);
    for (int b = 0; b < bands; ++b) chunks_done_[b].value.store(0, std::memory_order_relaxed);
  }
  void SetDowns(int band, int64_t items) {
    downs_left_[band].value.store(items, std::memory_order_relaxed);
  }

  // A down item of `band` is done (its products written).
  void DownDone(int band) { downs_left_[band].value.fetch_sub(1, std::memory_order_acq_rel); }
  // Whether band `band` may write its ring slot: the band before it in that slot is summed.
  bool SlotFree(int band) const {
    return band < slots_ ||
           chunks_done_[band - slots_].value.load(std::memory_order_acquire) == chunks_;
  }
  // Claims the next chunk if its band is ready and runs sum(band, chunk); whether it did.
  bool RunOne(absl::FunctionRef<void(int band, int64_t chunk)> sum) {
    int64_t next = next_.load(std::memory_order_relaxed);
    while (next < bands_ * chunks_) {
      const int band = static_cast<int>(next / chunks_);
      if (downs_left_[band].value.load(std::memory_order_acquire) != 0) return false;
      if (next_.compare_exchange_weak(next, next + 1, std::memory_order_acq_rel)) {
        sum(band, next % chunks_);
        chunks_done_[band].value.fetch_add(1, std::memory_order_release);
        return true;
      }
    }
    return false;
  }
  // Whether every chunk is claimed (those claimed may still run).
  bool AllClaimed() const {
    return next_.load(std::memory_order_relaxed) >= bands_ * chunks_;
  }

 private:
  // A cache line each: different threads update different bands at once.
  struct alignas(64) Counter {
    std::atomic<int64_t> value{0};
  };

  int bands_ = 0, slots_ = 1;
  int64_t chunks_ = 0;
  std::unique_ptr<Counter[]> downs_left_, chunks_done_;
  alignas(64) std::atomic<int64_t> next_{0};
};

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_BAND_SUMS_H_
