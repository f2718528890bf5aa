#include "experiments/plot_style.h"

#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fp4moe::experiments {
namespace {

using ::testing::MatchesRegex;

TEST(PlotStyleTest, ColoursStayDistinctForAnyNumberOfSeries) {
  for (size_t count = 1; count <= 120; ++count) {
    const std::vector<std::string> colours = DistinctColours(count);
    ASSERT_EQ(colours.size(), count);
    EXPECT_EQ(std::set<std::string>(colours.begin(), colours.end()).size(), count)
        << "count " << count;
    for (const std::string& colour : colours) EXPECT_THAT(colour, MatchesRegex("#[0-9a-f]{6}"));
  }
  // A few series keep their palette colours as more are added (up to the palette's size).
  EXPECT_EQ(DistinctColours(3)[1], DistinctColours(10)[1]);
}

TEST(PlotStyleTest, MarkersAndDashesStayDistinct) {
  std::set<std::string> markers, dashes;
  for (size_t i = 0; i < 30; ++i) {
    markers.insert(Marker(i, true));
    markers.insert(Marker(i, false));
    dashes.insert(Dash(i));
  }
  EXPECT_EQ(markers.size(), 60u);
  EXPECT_EQ(dashes.size(), 30u);
  EXPECT_EQ(Marker(0, true), "pt 7 ps 1.5");  // a filled circle
  EXPECT_EQ(Marker(0, false), "pt 6 ps 1.5");
}

}  // namespace
}  // namespace fp4moe::experiments
