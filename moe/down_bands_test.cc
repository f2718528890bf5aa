#include "moe/down_bands.h"

#include <cstdint>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/gemm.h"
#include "moe/band_sums.h"

namespace fp4moe::moe {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

// Every job's items cover its n columns once, each item within its band, in band order, and
// within a band in job order.
TEST(DownBandsTest, ItemsCoverEveryJobsColumnsOnceInBandOrder) {
  for (const int64_t n : {64, 100, 256, 2880, 7168}) {
    const int tiles = static_cast<int>((n + 63) / 64);
    for (const int bands : {1, 2, 3, tiles}) {
      if (bands > tiles) continue;
      // Jobs cut into bands (B) or tiles (T): none, all, and mixed.
      for (const std::vector<bool>& tiled :
           {std::vector<bool>{false}, {true}, {true, false, false, true, true}}) {
        SCOPED_TRACE(testing::Message() << "n " << n << " bands " << bands << " jobs "
                                        << tiled.size());
        DownBands down(8, n);
        down.Reset(n, bands);
        for (bool t : tiled) down.AddJob(t ? tiles : bands);
        std::vector<std::vector<int>> covered(tiled.size(), std::vector<int>(n, 0));
        int64_t band_items = 0;
        for (int b = 0; b < bands; ++b) band_items += down.BandItems(b);
        EXPECT_EQ(band_items, down.items());
        DownBands::Item last{0, 0, 0, 0};
        for (int64_t i = 0; i < down.items(); ++i) {
          const DownBands::Item item = down.At(i);
          ASSERT_GE(item.band, last.band) << "item " << i;
          if (item.band == last.band) {
            ASSERT_GE(item.job, last.job) << "item " << i;
          }
          last = item;
          ASSERT_LT(item.job, static_cast<int64_t>(tiled.size()));
          EXPECT_EQ(item.slices, tiled[item.job] ? tiles : bands);
          const auto [c0, c1] = kernels::ThreadSlice(n, item.slice, item.slices);
          const auto [b0, b1] = down.Columns(item.band);
          EXPECT_GE(c0, b0);
          EXPECT_LE(c1, b1);
          EXPECT_LE(b1 - b0, down.max_band_columns());
          for (int64_t c = c0; c < c1; ++c) ++covered[item.job][c];
        }
        for (const std::vector<int>& job : covered) {
          EXPECT_EQ(job, std::vector<int>(n, 1));
        }
      }
    }
  }
}

TEST(DownRingTest, BandsShareASlotEverySlotsBands) {
  DownBands bands(1, 256);
  bands.Reset(256, 4);  // bands of 64 columns
  bands.AddJob(4);
  // Room for 3 bands of 5 rows: band 3 takes band 0's slot.
  DownRing ring(256, 3 * 5 * 64);
  ring.Layout(5, bands);
  EXPECT_EQ(ring.slots(), 3);
  const auto at = [&](int band, int64_t row, int64_t column) {
    const kernels::OutputWindow w = ring.Band(band);
    EXPECT_GE(column, w.first_column);
    EXPECT_LT(column, w.end_column);
    EXPECT_LT(row, w.rows);
    return w.origin + row * w.ld + column;
  };
  for (int b = 0; b < 3; ++b) {
    const auto [c0, c1] = bands.Columns(b);
    for (int64_t r = 0; r < 5; ++r) {
      for (int64_t c = c0; c < c1; ++c) *at(b, r, c) = static_cast<float>(b * 1000 + r * 100 + c);
    }
  }
  for (int b = 0; b < 3; ++b) {
    const auto [c0, c1] = bands.Columns(b);
    for (int64_t r = 0; r < 5; ++r) {
      for (int64_t c = c0; c < c1; ++c) {
        ASSERT_EQ(*at(b, r, c), static_cast<float>(b * 1000 + r * 100 + c));
      }
    }
  }
  EXPECT_EQ(at(3, 2, 192 + 7), at(0, 2, 7));
  // Fewer rows: every band gets a slot of its own.
  ring.Layout(2, bands);
  EXPECT_EQ(ring.slots(), 4);
}

TEST(BandSumsTest, ChunksRunOnceTheirBandsDownsAreDoneAndFreeTheirSlots) {
  BandSums sums(4);
  sums.Reset(/*bands=*/3, /*chunks=*/2, /*slots=*/2);
  for (int b = 0; b < 3; ++b) sums.SetDowns(b, 2);
  std::vector<std::pair<int, int64_t>> ran;
  const auto run = [&](int band, int64_t chunk) { ran.emplace_back(band, chunk); };
  EXPECT_TRUE(sums.SlotFree(1));
  EXPECT_FALSE(sums.SlotFree(2));
  EXPECT_FALSE(sums.RunOne(run));
  sums.DownDone(0);
  sums.DownDone(1);
  sums.DownDone(1);
  EXPECT_FALSE(sums.RunOne(run)) << "band 0 has a down item left";
  sums.DownDone(0);
  EXPECT_TRUE(sums.RunOne(run));
  EXPECT_FALSE(sums.SlotFree(2)) << "one of band 0's chunks is left";
  EXPECT_TRUE(sums.RunOne(run));
  EXPECT_TRUE(sums.SlotFree(2));
  EXPECT_TRUE(sums.RunOne(run));
  EXPECT_TRUE(sums.RunOne(run));
  EXPECT_FALSE(sums.RunOne(run)) << "band 2's downs are not done";
  EXPECT_FALSE(sums.AllClaimed());
  sums.DownDone(2);
  sums.DownDone(2);
  while (sums.RunOne(run)) {
  }
  EXPECT_TRUE(sums.AllClaimed());
  EXPECT_THAT(ran, ElementsAre(Pair(0, 0), Pair(0, 1), Pair(1, 0), Pair(1, 1), Pair(2, 0),
                               Pair(2, 1)));
}

}  // namespace
}  // namespace fp4moe::moe
