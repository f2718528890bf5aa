// The shared tester: every microkernel compiled in (native where this CPU runs it, emulated
// copies everywhere) against an Eigen GEMM of the operands it was given, dequantized.
#include <cmath>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "kernels/buffers.h"
#include "kernels/cpu_features.h"
#include "kernels/gemm.h"
#include "kernels/microkernel_table.h"
#include "quant/bf16.h"
#include "quant/mxfp4.h"
#include "quant/nvfp4.h"
#include "quant/random_matrix.h"
#include "quant/reference_gemm.h"

namespace fp4moe::kernels {
namespace {

// kEveryScaleByte (NVFP4 and MXFP4): raw weights instead of quantized ones, every scale byte
// that EveryScaleByte walks with every code.
enum class Special { kNone, kZeroBlocks, kAllNegativeRows, kEveryScaleByte };

struct Case {
  int64_t m, n, k;
  Distribution distribution = Distribution::kGaussian;
  Special special = Special::kNone;
};

std::string Describe(const Case& c, WeightFormat format, int64_t group) {
  return absl::StrFormat("m=%d n=%d k=%d %s group=%d dist=%d special=%d", c.m, c.n, c.k,
                         TraitsOf(format).name, group, static_cast<int>(c.distribution),
                         static_cast<int>(c.special));
}

std::vector<Case> CasesFor(int64_t block) {
  return {
      {1, 64, 256},
      {3, 37, 128},
      {17, 100, 512},
      {5, 16, block},                                // k of one block
      {2, 70, 4096},                                 // large k
      {3, 40, 288},                                  // k ending in a partial 128-element chunk
      {33, 48, 256},                                 // more rows than a 16-row tile, odd
      {32, 160, 2304},  // one whole row block over k blocks (1024, 1024, 256) and two chunks
      {70, 150, 1536},  // full 32-row blocks and a tail over several k blocks, 150 columns
      {1040, 40, 1024},  // more than 32 AMX row blocks (two k blocks for AMX-INT8)
      {4, 65, 384, Distribution::kOutliers},         // outliers, n just past a tile
      {6, 64, 256, Distribution::kHeavyTailed, Special::kZeroBlocks},
      {7, 33, 256, Distribution::kGaussian, Special::kAllNegativeRows},
      {12, 50, 1152},                     // 9 to 12 rows, a partial last k block
      {20, 24, 8448},  // more than 16 rows over two 8192-k blocks, the second partial
      {16, 48, 2048, Distribution::kOutliers},  // one whole 16-row tile
      {40, 36, 17 * block},  // two row blocks over 16-k steps (NVFP4's k = 272: 16 x 17)
  };
}

void ApplySpecial(Special special, int64_t block, RowMatrixXf& w, RowMatrixXf& x) {
  switch (special) {
    case Special::kNone:
    case Special::kEveryScaleByte:
      return;
    case Special::kZeroBlocks:
      // Every third weight block and every fifth activation block zero.
      for (int64_t r = 0; r < w.rows(); ++r) {
        for (int64_t b = r % 3; b < w.cols() / block; b += 3) {
          w.row(r).segment(b * block, block).setZero();
        }
      }
      for (int64_t r = 0; r < x.rows(); ++r) {
        for (int64_t b = r % 5; b < x.cols() / block; b += 5) {
          x.row(r).segment(b * block, block).setZero();
        }
      }
      return;
    case Special::kAllNegativeRows:
      w = -w.cwiseAbs();
      x = -x.cwiseAbs();
      return;
  }
}

// Weights [n, k] whose block scales walk through every scale byte and whose codes walk
// through all 16 within each block, shifted from block to block. NVFP4: every E4M3 byte but
// 0x7F and 0xFF (NaN), negative and subnormal ones included. MXFP4: E8M0 bytes 0 (2^-127) to
// 227 (2^100), past both ends of the range its AMX decode takes by exponent adds ([2, 252]);
// larger scales would make the sums of products overflow float.
absl::StatusOr<BufferB> EveryScaleByte(int64_t n, int64_t k, WeightFormat format) {
  const bool mx = format == WeightFormat::kMxfp4;
  const int64_t block = mx ? Mxfp4Tensor::kBlock : Nvfp4Tensor::kBlock;
  std::vector<uint8_t> scale_bytes;
  for (int byte = 0; byte < (mx ? 228 : 256); ++byte) {
    if (mx || (byte & 0x7F) != 0x7F) scale_bytes.push_back(static_cast<uint8_t>(byte));
  }
  std::vector<uint8_t> codes(n * k / 2), scales(n * k / block);
  for (size_t i = 0; i < scales.size(); ++i) scales[i] = scale_bytes[i % scale_bytes.size()];
  for (int64_t i = 0; i < n * k; i += 2) {
    const int64_t b = i / block;
    codes[i / 2] = static_cast<uint8_t>((i + b) % 16 | (i + 1 + b) % 16 << 4);
  }
  if (mx) return BufferB::FromMxfp4("w", {n, k, std::move(codes), std::move(scales)});
  return BufferB::FromRawNvfp4("w", n, k, codes.data(), scales.data(), 1.0f / 448);
}

// The weights exactly as `kernel` multiplies them in a product of m rows.
RowMatrixXf KernelWeights(const BufferB& b, const Microkernel& kernel, int64_t m) {
  RowMatrixXf w = b.Dequantize();
  // W4A16 rounds each decoded weight (code x block scale) to BF16: a no-op for E2M1 with E4M3
  // and E8M0 scales, a rounding for float32 scales and INT4's BF16 ones (tensor scale 1), which
  // a variant scaling block sums leaves out up to its rows.
  const bool rounds = (kernel.path == GemmPath::kFp4W4A16 &&
                       b.view().scale_kind == ScaleKind::kFloat32) ||
                      kernel.path == GemmPath::kInt4W4A16;
  if (rounds && (m > kernel.unrounded_max_m || b.view().block % 16 != 0)) {
    w = w.unaryExpr([](float v) { return RoundToBf16(v); });
  }
  return w;
}

// `tile_order`: the activations also in the AMX kernels' tile order, which those load their
// tiles from (other kernels ignore it), and as column windows where the buffer keeps them (the
// scaled-code-table kernel's only way); else they pack the rows themselves.
void CheckKernel(const Microkernel& kernel, const Case& c, WeightFormat format, int64_t group,
                 bool tile_order) {
  const std::string where =
      absl::StrCat(Describe(c, format, group), tile_order ? " tile order" : "");
  SCOPED_TRACE(where);
  RowMatrixXf w = RandomMatrix(c.n, c.k, 1000 + c.n * 7 + c.k, c.distribution, 0.02f);
  RowMatrixXf x = RandomMatrix(c.m, c.k, 2000 + c.m * 5 + c.k, c.distribution, 1.5f);
  ApplySpecial(c.special, group, w, x);
  absl::StatusOr<BufferB> b = c.special == Special::kEveryScaleByte
                                  ? EveryScaleByte(c.n, c.k, format)
                                  : BufferB::Quantize("w", w, format, group);
  ASSERT_TRUE(b.ok()) << b.status();
  absl::StatusOr<BufferA> a =
      BufferA::Create(kernel.path, c.m, c.k, b->block(), tile_order, tile_order);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(a->Set("x", x).ok());
  BufferC out(c.m, c.n);
  constexpr int kThreads = 3;  // slices run one after another: checks the split of N
  for (int ith = 0; ith < kThreads; ++ith) {
    ASSERT_TRUE(Gemm(kernel, c.m, c.n, c.k, b->block(), *a, *b, out, ith, kThreads).ok());
  }
  const RowMatrixXf a_ref = a->Dequantize(c.m);
  const RowMatrixXf b_ref = KernelWeights(*b, kernel, c.m);
  const RowMatrixXd expected = ReferenceGemm(a_ref, b_ref);
  // Every kernel forms exact (integer or BF16) block products and adds at most k + 16 float32
  // terms (block sums, scale products, the lanes' final reduction), each rounding once: the
  // error of such a sum is at most (k + 16) * 2^-24 * sum |terms| <= that * (|A| |B|^T).
  const RowMatrixXd bound = AbsGemm(a_ref, b_ref) * ((c.k + 16) * std::ldexp(1.0, -24));
  const RowMatrixXf got = out.ToMatrix(c.m);
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      ASSERT_LE(std::fabs(got(i, j) - expected(i, j)), bound(i, j) + 1e-30)
          << kernel.name << " C[" << i << ", " << j << "] = " << got(i, j) << ", reference "
          << expected(i, j);
    }
  }
  // Against the weights before the kernel's BF16 rounding: each weight moves by at most 2^-8
  // of itself (round to nearest even to 8 significant bits: BF16's unit roundoff), which
  // bounds the product by 2^-8 |A| |B|^T more.
  const RowMatrixXf b_dequantized = b->Dequantize();
  const RowMatrixXd unrounded = ReferenceGemm(a_ref, b_dequantized);
  const RowMatrixXd rounded_bound =
      AbsGemm(a_ref, b_dequantized) * ((c.k + 16) * std::ldexp(1.0, -24) + std::ldexp(1.0, -8));
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      ASSERT_LE(std::fabs(got(i, j) - unrounded(i, j)), rounded_bound(i, j) + 1e-30)
          << kernel.name << " C[" << i << ", " << j << "] against unrounded weights";
    }
  }
  // Reported, not asserted: the error the formats add against unquantized float (raw weights
  // have none).
  if (c.special == Special::kEveryScaleByte) return;
  const RowMatrixXd exact = ReferenceGemm(x, w);
  std::cout << absl::StrFormat("%-34s %-60s rel. error vs float %.4f\n", kernel.name, where,
                               (got.cast<double>() - exact).norm() / exact.norm());
}

class MicrokernelTest : public testing::TestWithParam<Microkernel> {};

TEST_P(MicrokernelTest, MatchesEigenReferenceOnDequantizedOperands) {
  const Microkernel& kernel = GetParam();
  if (!CanRun(kernel, DetectedCpuFeatures())) {
    GTEST_SKIP() << kernel.name << " needs " << IsaName(kernel.isa) << "; this CPU has "
                 << DetectedCpuFeatures().ToString();
  }
  if (PathTakesFormat(kernel.path, WeightFormat::kInt4K2)) {
    // 32 and 128 as checkpoints use them, 256 spans two AVX2 steps; 8, 16, 48 and 384 are
    // groups some SIMD kernels leave to the scalar one (W4A16: 8), and 48 and 384 do not divide
    // the AMX kernels' k blocks (512 for INT8, 1024 for BF16).
    // Every other case with the activations in tile order: both ways of feeding the AMX
    // kernels meet one k block and several, full and partial row blocks.
    for (int64_t group : {32, 128, 256, 8, 16, 48, 384}) {
      const std::vector<Case> cases = CasesFor(group);
      for (size_t i = 0; i < cases.size(); ++i) {
        Case c = cases[i];
        c.k = std::max<int64_t>(group, c.k / group * group);
        CheckKernel(kernel, c, WeightFormat::kInt4K2, group, i % 2 == 0);
      }
    }
    return;
  }
  for (WeightFormat format :
       {WeightFormat::kNvfp4, WeightFormat::kFp4FloatScale, WeightFormat::kMxfp4}) {
    const std::vector<Case> cases = CasesFor(TraitsOf(format).block_size);
    for (size_t i = 0; i < cases.size(); ++i) CheckKernel(kernel, cases[i], format, 16, i % 2 == 0);
  }
  // A few rows and a panel's worth (the AMX kernels' two schedules) over every scale byte, the
  // activations both ways (in tile order, the few rows also as column windows).
  for (const Case& c : {Case{3, 64, 1024, Distribution::kGaussian, Special::kEveryScaleByte},
                        Case{40, 48, 2048, Distribution::kGaussian, Special::kEveryScaleByte}}) {
    for (WeightFormat format : {WeightFormat::kNvfp4, WeightFormat::kMxfp4}) {
      CheckKernel(kernel, c, format, 16, false);
      CheckKernel(kernel, c, format, 16, true);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllKernels, MicrokernelTest, testing::ValuesIn(AllMicrokernels().begin(), AllMicrokernels().end()),
                         [](const testing::TestParamInfo<Microkernel>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace fp4moe::kernels
