#ifndef FP4MOE_MOE_DOWN_BANDS_H_
#define FP4MOE_MOE_DOWN_BANDS_H_

// The down products of a call in bands of output columns, and where the prefill keeps them:
// the items of band b (each job's slices in it) all come before those of band b + 1, so that
// each band's products are done while later bands still run. The output sums then read a band
// while it is in cache, and the prefill keeps a few bands' rows (DownRing) instead of every
// routed row's whole output (940 MB for DeepSeek-V3 at 4096 tokens, written and read back
// through DRAM).

#include <cstdint>
#include <utility>
#include <vector>

#include "kernels/aligned_buffer.h"
#include "kernels/buffers.h"

namespace fp4moe::moe {

// The items of a call's down products in band order. The output's n columns are cut into
// bands as kernels::ThreadSlice cuts them into slices (whole 64-column tiles, spread evenly);
// a job's down product is cut either into the bands themselves (one item a band) or into the
// tiles (each band's tiles, one item each).
class DownBands {
 public:
  // For up to max_jobs jobs and outputs of up to max_n columns.
  DownBands(int64_t max_jobs, int64_t max_n);

  // n <= max_n columns in `bands` bands (1 <= bands <= the tiles), no jobs yet.
  void Reset(int64_t n, int bands);
  // Appends the next job, its product cut into `slices` slices: bands() or tiles().
  void AddJob(int slices);

  int bands() const { return bands_; }
  int tiles() const { return tiles_; }
  // The columns [begin, end) of band `band`.
  std::pair<int64_t, int64_t> Columns(int band) const {
    return {column_begin_[band], column_begin_[band + 1]};
  }
  // Columns of the widest band.
  int64_t max_band_columns() const { return WidestBandColumns(tiles_, bands_); }
  // Columns of the widest of `bands` bands of `tiles` tiles.
  static int64_t WidestBandColumns(int64_t tiles, int64_t bands);
  // Items of every band, and of band `band`.
  int64_t items() const { return BandBegin(bands_); }
  int64_t BandItems(int band) const { return BandBegin(band + 1) - BandBegin(band); }

  // Item `item`: job `job`'s slice `slice` of `slices` (kernels::Gemm's ith and nth), which
  // lies in band `band`.
  struct Item {
    int band;
    int64_t job;
    int slice, slices;
  };
  Item At(int64_t item) const;

 private:
  int TileBegin(int band) const {
    return static_cast<int>(int64_t{tiles_} * band / bands_);
  }
  int64_t BandBegin(int band) const {
    const int64_t tiled = tiled_before_[jobs_];
    return (jobs_ - tiled) * band + tiled * TileBegin(band);
  }

  int tiles_ = 0, bands_ = 1;
  int64_t jobs_ = 0;
  std::vector<int64_t> tiled_before_;  // [j]: jobs before j cut into tiles
  std::vector<int64_t> column_begin_;  // [b]: band b's first column; [bands]: n
};

// Storage for a call's down products, a few bands at a time: band b's rows lie in slot
// b % slots(), each slot `rows` rows of the widest band's columns. A band may take its slot
// only once the sums of the band that last used it are done (BandSums::SlotFree).
class DownRing {
 public:
  DownRing() = default;
  // Room for `floats` floats of products, for an output of n columns.
  DownRing(int64_t n, int64_t floats);
  // The bytes such a ring allocates.
  static int64_t Bytes(int64_t n, int64_t floats) {
    return (n + floats) * int64_t{sizeof(float)};
  }

  // Lays out a call of `rows` routed rows whose products `bands` cuts: as many slots as fit,
  // at most one a band. The storage must hold at least one slot.
  void Layout(int64_t rows, const DownBands& bands);
  int slots() const { return slots_; }
  // Band `band`'s products, as a GEMM's output window over the call's rows.
  kernels::OutputWindow Band(int band) const {
    const auto [begin, end] = bands_->Columns(band);
    return {slot_of_band_[band] - begin, slot_columns_, rows_, begin, end};
  }

 private:
  int64_t n_ = 0, floats_ = 0;
  // The room before the first slot, n floats: a window's origin lies its first column's
  // floats before its storage.
  kernels::AlignedBuffer data_;
  const DownBands* bands_ = nullptr;
  int64_t rows_ = 0, slot_columns_ = 0;
  int slots_ = 0;
  std::vector<float*> slot_of_band_;  // [b]: band b's slot, laid out per call
};

}  // namespace fp4moe::moe

#endif  // FP4MOE_MOE_DOWN_BANDS_H_
