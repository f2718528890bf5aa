// fp4moe's main comparison: which 4-bit format and GEMM path, how accurate, how fast, on this
// machine. Without flags it runs a quick embedded default (a [2048, 2048] weight matrix with
// outliers, 8 tokens) that shows NVFP4 and INT4 K2 side by side in seconds.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "experiments/metrics.h"
#include "kernels/buffers.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm.h"
#include "kernels/microkernel_table.h"
#include "quant/format.h"
#include "quant/random_matrix.h"
#include "quant/reference_gemm.h"

ABSL_FLAG(int64_t, n, 2048, "weight rows (output features)");
ABSL_FLAG(int64_t, k, 2048, "weight columns (input features)");
ABSL_FLAG(int64_t, m, 8, "tokens (activation rows)");
ABSL_FLAG(int64_t, int4_group, 32, "INT4 K2 group size along K");
ABSL_FLAG(uint64_t, seed, 1, "random seed of weights and activations");
ABSL_FLAG(int, repetitions, 20, "timed runs of each GEMM (the median is reported)");
ABSL_FLAG(std::string, isa, "", "force one ISA's kernels (scalar, avx2, avx512, amx)");

namespace fp4moe {
namespace {

using kernels::BufferA;
using kernels::BufferB;
using kernels::BufferC;
using kernels::GemmPath;
using kernels::Microkernel;

struct GemmTiming {
  double median_seconds;
  RowMatrixXf result;
};

absl::StatusOr<GemmTiming> TimeGemm(const Microkernel& kernel, const BufferA& a,
                                    const BufferB& b, int repetitions) {
  BufferC c(a.m(), b.n());
  std::vector<double> seconds;
  absl::Status status;
  for (int rep = 0; rep <= repetitions; ++rep) {  // run 0 warms caches and is not timed
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel
    {
      absl::Status s = kernels::Gemm(kernel, a.m(), b.n(), b.k(), b.block(), a, b, c,
                                     omp_get_thread_num(), omp_get_num_threads());
#pragma omp critical
      if (!s.ok()) status = s;
    }
    if (!status.ok()) return status;
    if (rep > 0) {
      seconds.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }
  std::nth_element(seconds.begin(), seconds.begin() + seconds.size() / 2, seconds.end());
  return GemmTiming{seconds[seconds.size() / 2], c.ToMatrix(a.m())};
}

absl::Status Run() {
  const int64_t n = absl::GetFlag(FLAGS_n), k = absl::GetFlag(FLAGS_k), m = absl::GetFlag(FLAGS_m);
  std::optional<kernels::Isa> isa;
  if (!absl::GetFlag(FLAGS_isa).empty()) {
    absl::StatusOr<kernels::Isa> parsed = kernels::ParseIsa(absl::GetFlag(FLAGS_isa));
    if (!parsed.ok()) return parsed.status();
    isa = *parsed;
  }
  const RowMatrixXf w = RandomMatrix(n, k, absl::GetFlag(FLAGS_seed), Distribution::kOutliers, 0.02f);
  const RowMatrixXf x = RandomMatrix(m, k, absl::GetFlag(FLAGS_seed) + 1, Distribution::kGaussian);
  const RowMatrixXd exact = ReferenceGemm(x, w);

  std::printf("fp4moe compare: weights [%ld, %ld] (Gaussian, 1 in 1000 outliers x50), "
              "activations [%ld, %ld], %d threads, CPU %s\n\n",
              n, k, m, k, omp_get_max_threads(), kernels::DetectedCpuFeatures().ToString().c_str());
  std::printf("%-16s %6s %11s %9s | %-9s %-28s %11s %9s %10s %8s\n", "format", "bits/w",
              "W rel.err", "W cosine", "path", "kernel", "C rel.err", "C cosine", "time/GEMM",
              "GB/s");
  for (const FormatTraits& format : AllWeightFormats()) {
    const int64_t group = format.format == WeightFormat::kInt4K2 ? absl::GetFlag(FLAGS_int4_group) : 16;
    absl::StatusOr<BufferB> b = BufferB::Quantize("w", w, format.format, group);
    if (!b.ok()) return b.status();
    const ErrorMetrics weight_error = CompareMatrices(b->Dequantize().cast<double>(), w.cast<double>());
    for (GemmPath path : {GemmPath::kFp4W4A4Lut, GemmPath::kFp4W4A8, GemmPath::kFp4W4A16,
                          GemmPath::kInt4W4A8}) {
      if (!kernels::PathTakesFormat(path, format.format)) continue;
      absl::StatusOr<const Microkernel*> kernel = kernels::SelectMicrokernel(path, isa, kernels::DetectedCpuFeatures(), m);
      if (!kernel.ok()) {
        std::printf("%-16s %-9s skipped: %s\n", std::string(format.name).c_str(),
                    std::string(kernels::PathName(path)).c_str(),
                    std::string(kernel.status().message()).c_str());
        continue;
      }
      absl::StatusOr<BufferA> a = BufferA::Create(path, m, k, b->block());
      if (!a.ok()) return a.status();
      if (absl::Status s = a->Set("x", x); !s.ok()) return s;
      absl::StatusOr<GemmTiming> timing = TimeGemm(**kernel, *a, *b, absl::GetFlag(FLAGS_repetitions));
      if (!timing.ok()) return timing.status();
      const ErrorMetrics gemm_error = CompareMatrices(timing->result.cast<double>(), exact);
      std::printf("%-16s %6.2f %11.5f %9.6f | %-9s %-28s %11.5f %9.6f %8.1f us %8.2f\n",
                  std::string(format.name).c_str(), format.bits_per_weight(),
                  weight_error.relative_frobenius, weight_error.cosine,
                  std::string(kernels::PathName(path)).c_str(), (*kernel)->name,
                  gemm_error.relative_frobenius, gemm_error.cosine,
                  timing->median_seconds * 1e6,
                  b->streamed_bytes() / timing->median_seconds / 1e9);
    }
  }
  std::printf(
      "\nW: the quantized weights against the float weights. C: the GEMM output against the\n"
      "float GEMM (format error plus the path's activation quantization). GB/s: weight bytes\n"
      "streamed per second (here mostly from cache: see README for DRAM-bound figures).\n");
  return absl::OkStatus();
}

}  // namespace
}  // namespace fp4moe

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Compares 4-bit weight formats and GEMM paths for accuracy and speed.");
  absl::ParseCommandLine(argc, argv);
  if (absl::Status s = fp4moe::Run(); !s.ok()) {
    std::fprintf(stderr, "compare: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
