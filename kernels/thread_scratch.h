#ifndef FP4MOE_KERNELS_THREAD_SCRATCH_H_
#define FP4MOE_KERNELS_THREAD_SCRATCH_H_

// Per-thread scratch memory for the microkernels: the MoE forward path calls them thousands of
// times and must not allocate per call. ISA-neutral, and in an anonymous namespace like the
// per-ISA helpers (see kernels/microkernel.bzl on the ODR trap): each kernel file gets its own
// buffer.

#include <pthread.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>

namespace fp4moe::kernels {
namespace {

// At least `bytes` bytes, 64-byte aligned and zero when first given (as thread_local data
// would be), owned by the calling thread and valid until its next call here from the same file.
// Grows only when a call needs more than any before it; freed at thread exit by a pthread key's
// destructor. The thread_local holding it is trivially destructible on purpose: a TLS
// destructor is registered with glibc at a thread's first use, and where that registration
// finds no memory (under ulimit -v) glibc aborts the process instead of failing the call.
[[maybe_unused]] void* ThreadScratch(size_t bytes) {
  constexpr size_t kAlignment = 64;
  struct Buffer {
    void* data;
    size_t capacity;
  };
  thread_local Buffer buffer{};
  // One key per file's copy; without one (all taken), a thread's buffer outlives the thread.
  static pthread_key_t key;
  static const bool keyed = pthread_key_create(&key, [](void* data) { std::free(data); }) == 0;
  if (buffer.capacity < bytes) {
    std::free(buffer.data);
    // aligned_alloc wants a multiple of the alignment.
    buffer.capacity = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    buffer.data = std::aligned_alloc(kAlignment, buffer.capacity);
    // pthread_setspecific may allocate too (keys past the first 32), and says so.
    if (buffer.data == nullptr || (keyed && pthread_setspecific(key, buffer.data) != 0)) {
      std::free(buffer.data);
      buffer = {};
      if (keyed) pthread_setspecific(key, nullptr);
      throw std::bad_alloc();  // as operator new would: the callers' out-of-memory handling
    }
    std::memset(buffer.data, 0, buffer.capacity);
  }
  return buffer.data;
}

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_THREAD_SCRATCH_H_
