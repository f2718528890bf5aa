// moe/elementwise.h's loops compiled for AVX-512 (moe/elementwise_loops.h).
#include "moe/elementwise.h"
#include "moe/elementwise_loops.h"

FP4MOE_DEFINE_ELEMENTWISE_FOR_ISA(Avx512)
