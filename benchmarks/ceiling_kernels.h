#ifndef FP4MOE_BENCHMARKS_CEILING_KERNELS_H_
#define FP4MOE_BENCHMARKS_CEILING_KERNELS_H_

// Kernels that bound a design from above, for benchmarks only: not in the microkernel table,
// never chosen for a product, their results not the product of the weights.

#include <string_view>

#include "absl/types/span.h"
#include "kernels/microkernel.h"

namespace fp4moe::kernels {

// The W4A16 AMX driver (native AMX only; kFp4W4A16 buffers) with its weight decode left out
// (w4a16_no_decode_32x32_amx), then also its activation packing
// (w4a16_no_decode_no_packing_32x32_amx), then also its reads and writes of C: the tile loads
// and products of its loops (w4a16_tile_products_32x32_amx), then also its software
// prefetches (w4a16_tile_products_no_prefetch_32x32_amx), then also the activations' traffic
// (w4a16_tile_loop_32x32_amx); or with only its tile loads and products left out
// (w4a16_no_products_32x32_amx: the NVFP4 decode and the traffic around it); or, the decode
// kept, with its code loads from one L1-resident line (w4a16_no_code_gather_32x32_amx), without
// the software prefetches (w4a16_decode_no_prefetch_32x32_amx) or without the activations'
// traffic (w4a16_decode_no_activations_32x32_amx); or nothing at all (w4a16_nothing_32x32_amx:
// in moe_benchmark, the layer's work around its products), or nothing but C written
// (w4a16_only_c_32x32_amx: that work with the products' output traffic).
absl::Span<const Microkernel> W4a16AmxCeilings();

// The scaled-sums driver (kernels/w4a16_amx_sums_driver.h, NVFP4 weights, at most 16 rows)
// with its code decode left out (w4a16_sums_no_decode_16x16_amx), its block sums' scaling
// (w4a16_sums_no_scaling_16x16_amx), its block sums' tile loads, products and stores
// (w4a16_sums_no_tiles_16x16_amx), both of those (w4a16_sums_decode_only_16x16_amx), or the
// decode and the scaling (w4a16_sums_tiles_only_16x16_amx).
absl::Span<const Microkernel> W4a16AmxSumsCeilings();

// The scaled-code-table driver (kernels/e2m1_w4a16_amx_tables.h, NVFP4 weights, at most 16 rows)
// with its weight decode left out (w4a16_tables_no_decode_16x32_amx), its tile loads and
// products (w4a16_tables_decode_only_16x32_amx), its software prefetches of the weights
// (w4a16_tables_no_prefetch_16x32_amx), or the decode and the prefetches
// (w4a16_tables_no_decode_no_prefetch_16x32_amx).
absl::Span<const Microkernel> W4a16AmxTableCeilings();

// The ceiling of those named `name`, or `name` and its tile and ISA suffix (_32x32_amx,
// _16x16_amx, _16x32_amx); nullptr if none is.
const Microkernel* FindCeiling(std::string_view name);

}  // namespace fp4moe::kernels

#endif  // FP4MOE_BENCHMARKS_CEILING_KERNELS_H_
