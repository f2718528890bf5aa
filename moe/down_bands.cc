#include "moe/down_bands.h"

#include <algorithm>
#include <cassert>

#include "kernels/gemm.h"
#include "moe/slice_count.h"

namespace fp4moe::moe {

namespace {

int Tiles(int64_t n) { return SliceCount(n, kernels::kSliceColumns); }

// The last i in [first, last] where begin(i) <= x, begin increasing and begin(first) <= x.
template <typename Begin>
int64_t LastBeginningAtOrBefore(int64_t first, int64_t last, int64_t x, const Begin& begin) {
  while (first < last) {
    const int64_t mid = (first + last + 1) / 2;
    if (begin(mid) <= x) {
      first = mid;
    } else {
      last = mid - 1;
    }
  }
  return first;
}

}  // namespace

DownBands::DownBands(int64_t max_jobs, int64_t max_n)
    : tiled_before_(max_jobs + 1, 0), column_begin_(std::max(Tiles(max_n), 1) + 1, 0) {}

void DownBands::Reset(int64_t n, int bands) {
  tiles_ = Tiles(n);
  assert(bands >= 1 && bands + 1 <= static_cast<int>(column_begin_.size()));
  bands_ = bands;
  jobs_ = 0;
  for (int b = 0; b < bands; ++b) column_begin_[b] = kernels::ThreadSlice(n, b, bands).first;
  column_begin_[bands] = n;
}

void DownBands::AddJob(int slices) {
  assert(slices == bands_ || slices == tiles_);
  assert(jobs_ + 1 < static_cast<int64_t>(tiled_before_.size()));
  tiled_before_[jobs_ + 1] = tiled_before_[jobs_] + (slices == bands_ ? 0 : 1);
  ++jobs_;
}

int64_t DownBands::WidestBandColumns(int64_t tiles, int64_t bands) {
  return (tiles + bands - 1) / bands * kernels::kSliceColumns;
}

DownBands::Item DownBands::At(int64_t item) const {
  const int band = static_cast<int>(LastBeginningAtOrBefore(
      0, bands_ - 1, item, [this](int64_t b) { return BandBegin(static_cast<int>(b)); }));
  const int64_t offset = item - BandBegin(band);
  const int64_t band_tiles = TileBegin(band + 1) - TileBegin(band);
  // Within the band, job j's items begin after the jobs before it: one item each, band_tiles
  // for each tiled one.
  const auto job_begin = [&](int64_t j) {
    return j + tiled_before_[j] * (band_tiles - 1);
  };
  const int64_t job = LastBeginningAtOrBefore(0, jobs_ - 1, offset, job_begin);
  if (tiled_before_[job + 1] == tiled_before_[job]) return {band, job, band, bands_};
  return {band, job, static_cast<int>(TileBegin(band) + offset - job_begin(job)), tiles_};
}

DownRing::DownRing(int64_t n, int64_t floats)
    : n_(n),
      floats_(floats),
      data_(static_cast<size_t>(Bytes(n, floats))),
      slot_of_band_(std::max(Tiles(n), 1)) {}

void DownRing::Layout(int64_t rows, const DownBands& bands) {
  bands_ = &bands;
  rows_ = rows;
  slot_columns_ = bands.max_band_columns();
  const int64_t fit = floats_ / std::max<int64_t>(1, rows * slot_columns_);
  assert(fit >= 1);
  slots_ = static_cast<int>(std::min<int64_t>(bands.bands(), fit));
  float* first_slot = reinterpret_cast<float*>(data_.data()) + n_;
  for (int b = 0; b < bands.bands(); ++b) {
    slot_of_band_[b] = first_slot + (b % slots_) * rows_ * slot_columns_;
  }
}

}  // namespace fp4moe::moe
