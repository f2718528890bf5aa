// The ceiling of the W4A16 AMX driver (kernels/w4a16_amx_driver.h), for benchmarks only: the
// same loops, activation packing, tile products, prefetches and sums, with the weight decode
// skipped (the panels keep whatever they hold). Beside a real W4A16 kernel it shows what the
// decode costs; its results are not a product of the weights.
#include "kernels/ceiling_kernels.h"

#include <cstdint>

#include "kernels/microkernel.h"
#include "kernels/w4a16_amx_driver.h"

namespace fp4moe::kernels {
namespace {

struct NoDecode {};

template <>
void DecodePanel<NoDecode>(const WeightsView&, int64_t, int, int, int64_t, int64_t) {}

void W4a16NoDecode(const GemmArgs& args, int64_t n_begin, int64_t n_end) {
  MultiplyW4a16Amx<NoDecode>(args, n_begin, n_end);
}

}  // namespace

const Microkernel kW4a16NoDecodeCeiling = {"w4a16_no_decode_32x32_amx", GemmPath::kFp4W4A16,
                                           Isa::kAmx, /*emulated=*/false, W4a16NoDecode};

}  // namespace fp4moe::kernels
