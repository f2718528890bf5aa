#ifndef FP4MOE_KERNELS_SIMD_H_
#define FP4MOE_KERNELS_SIMD_H_

// x86 intrinsics for the SIMD microkernels. Each AVX-512 kernel is compiled twice (see
// kernels/microkernel.bzl): natively, and with FP4MOE_SIMDE so that SIMDe implements the same
// intrinsics on AVX2, letting every machine run the kernel's logic in tests.
#if defined(FP4MOE_SIMDE)
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#else
// GCC 12's own AVX-512 headers trip -Wuninitialized hundreds of times per kernel file, at the
// `_mm512_undefined_*` self-initialisation inside their intrinsics (GCC bug 105593, fixed in
// GCC 13); the warnings point into the headers, so they are silenced there only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

// Gives a microkernel's entry point its name: `name` natively, `name_emulated` in the SIMDe /
// AMX-emulation copy, so both copies link into one binary.
#if defined(FP4MOE_SIMDE)
#define FP4MOE_MICROKERNEL(name) name##_emulated
#else
#define FP4MOE_MICROKERNEL(name) name
#endif

#endif  // FP4MOE_KERNELS_SIMD_H_
