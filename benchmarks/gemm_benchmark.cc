// GEMM throughput of each path's best kernel on real expert shapes, with its roofline.
//
//   bazel run -c opt //benchmarks:gemm_benchmark -- [--stream_bytes=N] [--benchmark_filter=RE]
//
// Weights stream from DRAM: the benchmark keeps enough copies of the weight matrix to exceed
// --stream_bytes and multiplies by the next copy each iteration. The default is 4 GiB: with
// 1 GiB (3.4 x a 300 MB L3) the fastest GEMV still read 114 GB/s on the Xeon, more than its
// DRAM gives, so part of that rotation came from L3. --stream_bytes=0 reuses one copy (the
// cache-resident regime). The copies are made once per weight shape and format, not per case.
// Activations are
// quantized once, outside the timing. Counters: GFLOP=x/s (2mnk per second), GB=x/s (weight
// bytes per second), mem_ms / cmp_ms (the roofs: weight bytes at the measured bandwidth,
// operations at the ISA's peak) and roof=x/s (the larger roof over the measured time: 1 means
// on the roof).
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "benchmark/benchmark.h"
#include "benchmarks/benchmark_helpers.h"
#include "kernels/buffers.h"
#include "benchmarks/ceiling_kernels.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm.h"
#include "kernels/microkernel_table.h"
#include "kernels/parallel_gemm.h"
#include "kernels/peak_probe.h"
#include "kernels/bandwidth_probe.h"
#include "kernels/roofline.h"
#include "kernels/vector_probe.h"
#include "benchmarks/roofline_flags.h"
#include "quant/random_matrix.h"

ABSL_FLAG(int64_t, stream_bytes, int64_t{4} << 30,
          "weight bytes to rotate through (0: one cache-resident copy)");
ABSL_FLAG(int64_t, bandwidth_probe_bytes, int64_t{2} << 30, "bytes the bandwidth probe reads");
ABSL_FLAG(std::vector<std::string>, shapes,
          std::vector<std::string>({"2048x7168", "7168x2048", "768x2048", "4096x14336"}),
          "weight shapes NxK");
ABSL_FLAG(std::vector<std::string>, ms, std::vector<std::string>({"1", "4", "32", "128", "1024"}),
          "activation rows");
ABSL_FLAG(std::vector<std::string>, paths,
          std::vector<std::string>({"w4a4", "w4a8", "w4a16", "int4_w4a8", "int4_w4a16"}),
          "GEMM paths (NVFP4 weights for w4a*, INT4 K2 with G=32 for int4_*); also, on AMX, "
          "the W4A16 driver's ceilings (benchmarks/ceiling_kernels.h) by name without _32x32_amx: "
          "w4a16_no_decode, w4a16_no_decode_no_packing, w4a16_tile_products, "
          "w4a16_tile_products_no_prefetch, w4a16_tile_loop, w4a16_no_products, "
          "w4a16_no_code_gather, w4a16_decode_no_prefetch, w4a16_decode_no_activations, "
          "w4a16_nothing, w4a16_only_c; "
          "the scaled-sums "
          "driver's by name without _16x16_amx: "
          "w4a16_sums_no_decode, w4a16_sums_no_scaling, w4a16_sums_no_tiles, "
          "w4a16_sums_decode_only, w4a16_sums_tiles_only; the scaled-code-table driver's "
          "without _16x32_amx: w4a16_tables_no_decode, w4a16_tables_decode_only, "
          "w4a16_tables_no_prefetch, w4a16_tables_no_decode_no_prefetch; and compared variants "
          "of a kernel by their full name (fp4_w4a16_fp16mul_32x32_amx, "
          "fp4_w4a16_panels_32x32_amx, fp4_w4a16_decodeslots_32x32_amx, "
          "fp4_w4a16_rowblocks_16x32_amx, ...; naming one that reads row blocks gives every "
          "case weights that keep them)");
ABSL_FLAG(std::string, isa, "", "force one ISA instead of the best native one");
ABSL_FLAG(int, threads, 0, "OpenMP threads (0: all)");
ABSL_FLAG(std::vector<std::string>, slices, std::vector<std::string>({"0"}),
          "column slices of each GEMM, handed to the threads as they finish one (0: "
          "kernels::ParallelGemm's, one per 128-column chunk and at least one per thread; the "
          "threads' count gives the even split's slices); several values make a case each, "
          "measured in one process");
ABSL_FLAG(int, row_groups, 1,
          "groups of rows the threads split into (each group's threads split the columns): "
          "each thread reads 1/row_groups of the activations instead of all of them, and each "
          "weight is decoded once per group; the groups' rows are set apart, so that kernels "
          "reading a set's tile order still do");

namespace fp4moe::kernels {
namespace {

struct Case {
  GemmPath path;
  int64_t m, n, k;
  int slices;  // --slices
};

// The rotated weight copies of the last (format, n, k) asked for. Google Benchmark calls a case
// several times (to size its iteration count) and cases of one shape follow each other (every
// m, then the next shape), so keeping one set saves rebuilding gigabytes per call.
struct WeightCopies {
  WeightFormat format;
  int64_t n = 0, k = 0;
  std::vector<BufferB> copies;
  // Every copy also keeps its row blocks (BufferB::WithRowBlocks): set before any case runs
  // where a named kernel reads them, so that all kernels run on the same copies.
  bool row_blocks = false;
};

WeightCopies& Weights() {
  static WeightCopies* cache = new WeightCopies;
  return *cache;
}

const std::vector<BufferB>* StreamedWeights(WeightFormat format, int64_t n, int64_t k) {
  WeightCopies* cache = &Weights();
  if (!cache->copies.empty() && cache->format == format && cache->n == n && cache->k == k) {
    return &cache->copies;
  }
  cache->copies.clear();  // before the next set is made: both need not fit at once
  const RowMatrixXf w = RandomMatrix(n, k, 7, Distribution::kGaussian, 0.02f);
  absl::StatusOr<BufferB> first = BufferB::Quantize("w", w, format, 32);
  if (!first.ok()) return nullptr;
  if (cache->row_blocks) first = first->WithRowBlocks();
  const int64_t count =
      std::max<int64_t>(1, absl::GetFlag(FLAGS_stream_bytes) / first->streamed_bytes());
  for (int64_t i = 1; i < count; ++i) cache->copies.push_back(first->Clone());
  cache->copies.push_back(*std::move(first));
  cache->format = format;
  cache->n = n;
  cache->k = k;
  return &cache->copies;
}

void RunGemm(benchmark::State& state, const Case& c, const Microkernel* kernel,
             double bandwidth, const PeakRates& peaks) {
  const int slices = c.slices;
  const bool int4 = PathTakesFormat(c.path, WeightFormat::kInt4K2);
  const std::vector<BufferB>* streamed =
      StreamedWeights(int4 ? WeightFormat::kInt4K2 : WeightFormat::kNvfp4, c.n, c.k);
  absl::StatusOr<BufferA> a =
      BufferA::Create(c.path, c.m, c.k, streamed != nullptr ? streamed->front().block() : 16,
                      ReadsTileOrder(*kernel), ReadsColumnWindows(*kernel));
  // Row group g: rows [g m / groups, (g + 1) m / groups), set on their own.
  const int groups = absl::GetFlag(FLAGS_row_groups);
  const auto group_rows = [&](int g) {
    const int64_t begin = c.m * g / groups;
    return RowRange{begin, c.m * (g + 1) / groups - begin};
  };
  bool set = streamed != nullptr && a.ok();
  const RowMatrixXf x = RandomMatrix(c.m, c.k, 8);
  for (int g = 0; set && g < groups; ++g) {
    const RowRange rows = group_rows(g);
    if (rows.count > 0) set = a->Set("x", x.middleRows(rows.begin, rows.count), rows.begin).ok();
  }
  if (!set) {
    state.SkipWithError("setup failed");
    return;
  }
  const std::vector<BufferB>& weights = *streamed;
  BufferC out(c.m, c.n);
  size_t next = 0;
  for (auto _ : state) {
    const BufferB& b = weights[next];
    next = (next + 1) % weights.size();
    // Shapes were validated when the buffers were made; the status is always OK here.
    if (groups == 1) {
      (void)ParallelGemm(*kernel, c.m, c.n, c.k, b.block(), *a, b, out, /*threads=*/0, slices);
      continue;
    }
#pragma omp parallel
    {
      // Threads t, t + groups, ... take group t % groups (threads are checked to divide).
      const int threads = omp_get_num_threads(), thread = omp_get_thread_num();
      (void)Gemm(*kernel, group_rows(thread % groups), c.n, c.k, b.block(), *a, b, out,
                 thread / groups, threads / groups);
    }
  }
  SetRooflineCounters(state, weights[0].streamed_bytes(), 2.0 * c.m * c.n * c.k, bandwidth,
                      PeakFor(peaks, c.path, kernel->isa));
  state.SetLabel(kernel->name);
}

int Main(int argc, char** argv) {
  if (absl::Status s = CheckBenchmarkRepetitions(argc, argv); !s.ok()) {
    std::fprintf(stderr, "gemm_benchmark: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  absl::ParseCommandLine(argc, argv);
  absl::Status flags = CheckCommonFlagsAndSetThreads(absl::GetFlag(FLAGS_threads),
                                                     absl::GetFlag(FLAGS_stream_bytes),
                                                     absl::GetFlag(FLAGS_bandwidth_probe_bytes));
  std::vector<int> slice_counts;
  for (const std::string& value : absl::GetFlag(FLAGS_slices)) {
    int count = 0;
    if (flags.ok() && !absl::SimpleAtoi(value, &count)) {
      flags = absl::InvalidArgumentError(
          absl::StrFormat("--slices '%s' is not an integer", value));
    }
    if (flags.ok()) flags = CheckFlagRange("slices", count, 0, 1 << 20);
    slice_counts.push_back(count);
  }
  const bool any_slices = absl::c_any_of(slice_counts, [](int count) { return count > 0; });
  if (flags.ok()) {
    flags = CheckFlagRange("row_groups", absl::GetFlag(FLAGS_row_groups), 1, 1 << 20);
  }
  if (flags.ok() && omp_get_max_threads() % absl::GetFlag(FLAGS_row_groups) != 0) {
    flags = absl::InvalidArgumentError(
        absl::StrFormat("--row_groups=%d does not divide the %d threads",
                        absl::GetFlag(FLAGS_row_groups), omp_get_max_threads()));
  }
  if (flags.ok() && absl::GetFlag(FLAGS_row_groups) > 1 && any_slices) {
    flags = absl::InvalidArgumentError("--row_groups and --slices cannot be combined");
  }
  if (flags.ok()) flags = CheckPeakRateFlags();
  if (!flags.ok()) {
    std::fprintf(stderr, "gemm_benchmark: %s\n", std::string(flags.message()).c_str());
    return 1;
  }
  std::optional<Isa> isa;
  if (!absl::GetFlag(FLAGS_isa).empty()) {
    absl::StatusOr<Isa> parsed = ParseIsa(absl::GetFlag(FLAGS_isa));
    if (!parsed.ok()) {
      std::fprintf(stderr, "gemm_benchmark: %s\n", std::string(parsed.status().message()).c_str());
      return 1;
    }
    isa = *parsed;
  }
  // Shapes and rows, checked before anything is measured.
  std::vector<std::pair<int64_t, int64_t>> shapes;
  for (const std::string& shape : absl::GetFlag(FLAGS_shapes)) {
    std::vector<std::string> nk = absl::StrSplit(shape, 'x');
    int64_t n = 0, k = 0;
    if (nk.size() != 2 || !absl::SimpleAtoi(nk[0], &n) || !absl::SimpleAtoi(nk[1], &k) ||
        n <= 0 || k <= 0) {
      std::fprintf(stderr, "gemm_benchmark: shape '%s' is not NxK of positive integers\n",
                   shape.c_str());
      return 1;
    }
    // The float matrix the weights are quantized from is the largest of the shape's.
    if (absl::Status s = CheckFitsMemory(absl::StrFormat("shape %s", shape), {n, k}, 4); !s.ok()) {
      std::fprintf(stderr, "gemm_benchmark: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    shapes.push_back({n, k});
  }
  const absl::StatusOr<std::vector<int64_t>> ms = PositiveIntegers("m", absl::GetFlag(FLAGS_ms));
  if (!ms.ok()) {
    std::fprintf(stderr, "gemm_benchmark: %s\n", std::string(ms.status().message()).c_str());
    return 1;
  }
  for (const int64_t m : *ms) {
    // Activations [m, k] and the output [m, n], in float.
    for (const auto& [n, k] : shapes) {
      for (const int64_t width : {k, n}) {
        if (absl::Status s = CheckFitsMemory(absl::StrFormat("m=%d with shape %dx%d", m, n, k),
                                             {m, width}, 4);
            !s.ok()) {
          std::fprintf(stderr, "gemm_benchmark: %s\n", std::string(s.message()).c_str());
          return 1;
        }
      }
    }
  }
  const PeakRates peaks = PeakRatesFromFlags();
  std::printf("%s\n", PeakRatesLine(peaks).c_str());
  const ReadBandwidth probe = MeasureReadBandwidth(absl::GetFlag(FLAGS_bandwidth_probe_bytes));
  const double bandwidth = probe.bytes_per_second;
  std::printf(
      "read bandwidth (%d threads, %.1f GiB probe, best %s): %.1f GB/s; CPU %s; weights %s\n",
      omp_get_max_threads(), absl::GetFlag(FLAGS_bandwidth_probe_bytes) / 1073741824.0,
      probe.kernel.c_str(), bandwidth / 1e9, DetectedCpuFeatures().ToString().c_str(),
      absl::GetFlag(FLAGS_stream_bytes) > 0 ? "streamed from DRAM" : "cache-resident");
  std::printf("%s\n", VectorScalingLine(MeasureVectorScaling()).c_str());
  std::printf("%s\n", WindowRatesLine().c_str());
  for (const std::string& path_name : absl::GetFlag(FLAGS_paths)) {
    // A kernel named instead of a path (a ceiling or a variant) runs on its path's buffers.
    const Microkernel* named = FindCeiling(path_name);
    if (absl::StatusOr<const Microkernel*> kernel = FindMicrokernel(path_name);
        kernel.ok() && (*kernel)->variant && !(*kernel)->emulated) {
      named = *kernel;
    }
    if (named != nullptr && ReadsRowBlocks(*named)) Weights().row_blocks = true;
    if (named != nullptr && !CanRun(*named, DetectedCpuFeatures())) {
      std::fprintf(stderr, "gemm_benchmark: %s needs %s; skipped\n", path_name.c_str(),
                   std::string(IsaName(named->isa)).c_str());
      continue;
    }
    absl::StatusOr<GemmPath> path = named != nullptr ? named->path : ParsePath(path_name);
    if (!path.ok()) {
      std::fprintf(stderr, "gemm_benchmark: %s\n", std::string(path.status().message()).c_str());
      return 1;
    }
    for (const auto& [n, k] : shapes) {
      for (const int64_t m : *ms) {
        absl::StatusOr<const Microkernel*> kernel =
            named != nullptr ? named : SelectMicrokernel(*path, isa, DetectedCpuFeatures(), m);
        if (!kernel.ok()) {
          std::fprintf(stderr, "gemm_benchmark: %s\n",
                       std::string(kernel.status().message()).c_str());
          return 1;
        }
        for (const int slices : slice_counts) {
          const std::string name =
              slice_counts.size() > 1
                  ? absl::StrFormat("%s/n=%d/k=%d/m=%d/slices=%d", path_name, n, k, m, slices)
                  : absl::StrFormat("%s/n=%d/k=%d/m=%d", path_name, n, k, m);
          RegisterWallTimeBenchmark(name, RunGemm, Case{*path, m, n, k, slices}, *kernel,
                                    bandwidth, peaks);
        }
      }
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace
}  // namespace fp4moe::kernels

int main(int argc, char** argv) { return fp4moe::kernels::Main(argc, argv); }
