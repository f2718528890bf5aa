#ifndef FP4MOE_KERNELS_READ_STREAMS_H_
#define FP4MOE_KERNELS_READ_STREAMS_H_

// The read kernels of the bandwidth probe (kernels/bandwidth_probe.h), one file per ISA. Each
// returns the XOR of the 64-bit words of `bytes` bytes at `data` (64-byte aligned; bytes a
// multiple of 64 x streams), read as `streams` sequential streams at once (the equal parts of
// the range, a line of each per step) with software prefetches a few lines ahead: one thread
// keeps more lines in flight than a single stream does, as the GEMV kernels' column streams do.
// The XOR proves that every byte was read.

#include <cstdint>

namespace fp4moe::kernels {

uint64_t ReadStreamsAvx2(const uint8_t* data, int64_t bytes, int streams);
uint64_t ReadStreamsAvx512(const uint8_t* data, int64_t bytes, int streams);
// The SIMDe copy of ReadStreamsAvx512, for tests on machines without AVX-512.
uint64_t ReadStreamsAvx512_emulated(const uint8_t* data, int64_t bytes, int streams);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_READ_STREAMS_H_
