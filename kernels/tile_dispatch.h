#ifndef FP4MOE_KERNELS_TILE_DISPATCH_H_
#define FP4MOE_KERNELS_TILE_DISPATCH_H_

// Turns run-time scale kinds, row counts and column counts into the template arguments of the
// microkernels' tile functions. ISA-neutral, and in an anonymous namespace like the per-ISA
// helpers (see kernels/microkernel.bzl on the ODR trap): each kernel file gets its own copy.

#include <cstdint>
#include <type_traits>
#include <utility>

#include "kernels/microkernel.h"

namespace fp4moe::kernels {
namespace {

template <ScaleKind kKind>
using ScaleKindConstant = std::integral_constant<ScaleKind, kKind>;

template <int kCount>
using CountConstant = std::integral_constant<int, kCount>;

// f(ScaleKindConstant<kind>{}) if kind is one of kKinds; nothing otherwise (formats that
// another path serves).
template <ScaleKind... kKinds, typename F>
void DispatchScaleKind(ScaleKind kind, F&& f) {
  (void)((kind == kKinds ? (f(ScaleKindConstant<kKinds>{}), true) : false) || ...);
}

// The E2M1 kernels' scale kinds (BF16 scales are INT4 K2 only).
template <typename F>
void DispatchFp4ScaleKind(ScaleKind kind, F&& f) {
  DispatchScaleKind<ScaleKind::kE4M3, ScaleKind::kE8M0, ScaleKind::kFloat32>(kind, f);
}

template <int... kCounts, typename F>
void DispatchCount(int64_t count, std::integer_sequence<int, kCounts...>, F& f) {
  (void)((count == kCounts + 1 ? (f(CountConstant<kCounts + 1>{}), true) : false) || ...);
}

// f(CountConstant<count>{}) for count in 1..kMax; nothing otherwise.
template <int kMax, typename F>
void DispatchCount(int64_t count, F&& f) {
  DispatchCount(count, std::make_integer_sequence<int, kMax>{}, f);
}

// tile(CountConstant<tile rows>{}, first row) over `rows` rows: tiles of kRowTile rows, then
// one of the rows left.
template <int kRowTile, typename F>
void ForEachRowTile(int64_t rows, F&& tile) {
  int64_t r = 0;
  for (; r + kRowTile <= rows; r += kRowTile) tile(CountConstant<kRowTile>{}, r);
  DispatchCount<kRowTile - 1>(rows - r, [&](auto rest) { tile(rest, r); });
}

// tile(CountConstant<tile columns>{}, first column) over [n_begin, n_end): tiles of
// kColumnTile columns, then single columns.
template <int kColumnTile, typename F>
void ForEachColumnTile(int64_t n_begin, int64_t n_end, F&& tile) {
  int64_t j = n_begin;
  for (; j + kColumnTile <= n_end; j += kColumnTile) tile(CountConstant<kColumnTile>{}, j);
  for (; j < n_end; ++j) tile(CountConstant<1>{}, j);
}

}  // namespace
}  // namespace fp4moe::kernels

#endif  // FP4MOE_KERNELS_TILE_DISPATCH_H_
