#ifndef FP4MOE_KERNELS_ALIGNED_BUFFER_H_
#define FP4MOE_KERNELS_ALIGNED_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace fp4moe::kernels {

// Zero-initialised bytes aligned to a cache line (64 bytes, one zmm load), padded to a whole
// number of cache lines so that vector loads of the last line stay inside the allocation.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes);

  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> data_;
  size_t size_ = 0;
};

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_ALIGNED_BUFFER_H_
