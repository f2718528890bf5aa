#ifndef FP4MOE_KERNELS_THREAD_SCRATCH_H_
#define FP4MOE_KERNELS_THREAD_SCRATCH_H_

// Per-thread scratch memory for the microkernels: the MoE forward path calls them thousands of
// times and must not allocate per call. ISA-neutral, and in an anonymous namespace like the
// per-ISA helpers (see kernels/microkernel.bzl on the ODR trap): each kernel file gets its own
// buffer.

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>

namespace fp4moe::kernels {
namespace {

// At least `bytes` bytes, 64-byte aligned and zero when first given (as thread_local data
// would be), owned by the calling thread and valid until its next call here from the same file.
// Grows only when a call needs more than any before it; freed at thread exit.
[[maybe_unused]] void* ThreadScratch(size_t bytes) {
  constexpr size_t kAlignment = 64;
  struct Buffer {
    void* data = nullptr;
    size_t capacity = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffer;
  if (buffer.capacity < bytes) {
    std::free(buffer.data);
    // aligned_alloc wants a multiple of the alignment.
    buffer.capacity = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    buffer.data = std::aligned_alloc(kAlignment, buffer.capacity);
    if (buffer.data == nullptr) {
      buffer.capacity = 0;
      throw std::bad_alloc();  // as operator new would: the callers' out-of-memory handling
    }
    std::memset(buffer.data, 0, buffer.capacity);
  }
  return buffer.data;
}

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_THREAD_SCRATCH_H_
