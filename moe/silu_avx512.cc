// moe/silu.h's loops compiled for AVX-512 (moe/silu_loops.h).
#include "moe/silu.h"
#include "moe/silu_loops.h"

FP4MOE_DEFINE_SILU_FOR_ISA(Avx512)
