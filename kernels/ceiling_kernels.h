#ifndef FP4MOE_KERNELS_CEILING_KERNELS_H_
#define FP4MOE_KERNELS_CEILING_KERNELS_H_

// Kernels that bound a design from above, for benchmarks only: not in the microkernel table,
// never chosen for a product, their results not the product of the weights.

#include "kernels/microkernel.h"

namespace fp4moe::kernels {

// The W4A16 AMX driver with the weight decode skipped (native AMX only): what the driver's
// loops, packing and tile products cost without the decode. Takes kFp4W4A16 buffers.
extern const Microkernel kW4a16NoDecodeCeiling;

}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_CEILING_KERNELS_H_
