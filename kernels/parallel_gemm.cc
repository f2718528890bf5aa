#include "kernels/parallel_gemm.h"

#include <omp.h>

#include <algorithm>

namespace fp4moe::kernels {

int ParallelSlices(int64_t n, int threads) {
  const int64_t tiles = (n + kSliceColumns - 1) / kSliceColumns;
  const int64_t chunks = (n + kParallelSliceColumns - 1) / kParallelSliceColumns;
  return static_cast<int>(std::min(tiles, std::max<int64_t>(threads, chunks)));
}

absl::Status ParallelGemm(const Microkernel& kernel, int64_t m, int64_t n, int64_t k,
                          int64_t group_size, const BufferA& a, const BufferB& b, BufferC& c,
                          int threads, int slices) {
  const int team = threads > 0 ? threads : omp_get_max_threads();
  const int count = slices > 0 ? slices : std::max(1, ParallelSlices(n, team));
  absl::Status status;
#pragma omp parallel for schedule(dynamic, 1) num_threads(team)
  for (int slice = 0; slice < count; ++slice) {
    absl::Status s = Gemm(kernel, m, n, k, group_size, a, b, c, slice, count);
    if (!s.ok()) {
#pragma omp critical(fp4moe_parallel_gemm_status)
      if (status.ok()) status = s;
    }
  }
  return status;
}

}  // namespace fp4moe::kernels
