#include "kernels/aligned_buffer.h"

#include <cstring>
#include <new>

namespace fp4moe::kernels {

AlignedBuffer::AlignedBuffer(size_t bytes) : size_(bytes) {
  const size_t padded = (bytes + 63) / 64 * 64 + 64;
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(64, padded));
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, padded);
  data_.reset(p);
}

}  // namespace fp4moe::kernels
