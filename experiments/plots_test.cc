#include "experiments/plots.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fp4moe::experiments {
namespace {

using ::testing::Contains;
using ::testing::SizeIs;

// PlotFileNames is what the tools check before writing: every plot the rows can give must be
// in it, with its data and script.
TEST(PlotsTest, PlotFileNamesHoldEveryFileOfEveryPlot) {
  std::vector<ResultRow> rows;
  for (int qlen : {1, 8}) {
    ResultRow row;
    row.measure = "gemm";
    row.format = "nvfp4";
    row.path = "w4a8";
    row.distribution = "gaussian";
    row.qlen = qlen;
    row.threads = 1;
    row.rel_err = 0.07;
    row.tokens_per_s = 1000.0 * qlen;
    rows.push_back(row);
  }
  const std::vector<std::string> plots = PlotNames(rows);
  ASSERT_THAT(plots, SizeIs(3));
  const std::vector<std::string> files = PlotFileNames();
  for (const std::string& png : plots) {
    const std::string name = png.substr(0, png.size() - 4);
    EXPECT_THAT(files, Contains(name + ".png"));
    EXPECT_THAT(files, Contains(name + ".dat"));
    EXPECT_THAT(files, Contains(name + ".gp"));
  }
  EXPECT_THAT(files, SizeIs(3 * plots.size()));
}

}  // namespace
}  // namespace fp4moe::experiments
