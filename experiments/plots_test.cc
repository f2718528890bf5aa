#include "experiments/plots.h"

#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fp4moe::experiments {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

ResultRow Row(const std::string& format, const std::string& path, const std::string& projection,
              uint64_t seed, int64_t qlen) {
  ResultRow row;
  row.measure = "gemm";
  row.model = "m";
  row.format = format;
  row.group_size = format == "int4_k2" ? 32 : 16;
  row.path = path;
  row.projection = projection;
  row.distribution = "gaussian";
  row.seed = seed;
  row.qlen = qlen;
  row.threads = 1;
  row.rel_err = 0.07 + 0.001 * seed + (projection == "down" ? 0.01 : 0);
  row.tokens_per_s = 1000.0 * qlen * (projection == "down" ? 2 : 1);
  row.time_median_us = 1e6 * qlen / row.tokens_per_s;
  row.time_q1_us = 0.9 * row.time_median_us;
  row.time_q3_us = 1.2 * row.time_median_us;
  row.cpu_model = "Test CPU 9000";
  row.isa = "avx2";
  row.working_set_bytes = int64_t{1} << 30;
  row.l3_bytes = 32 << 20;
  return row;
}

// Two formats x two paths x up and down x two seeds x two qlens: 32 cases.
std::vector<ResultRow> Grid() {
  std::vector<ResultRow> rows;
  for (const char* format : {"nvfp4", "mxfp4"}) {
    for (const char* path : {"w4a8", "w4a16"}) {
      for (const char* projection : {"up", "down"}) {
        for (uint64_t seed : {1, 2}) {
          for (int64_t qlen : {1, 8}) rows.push_back(Row(format, path, projection, seed, qlen));
        }
      }
    }
  }
  return rows;
}

std::map<std::string, PlotFiles> ByName(const std::vector<PlotFiles>& plots) {
  std::map<std::string, PlotFiles> by_name;
  for (const PlotFiles& plot : plots) by_name[plot.name] = plot;
  return by_name;
}

// Data lines (not comments, not blank): a point each.
int Points(const std::string& data) {
  int points = 0;
  for (absl::string_view line : absl::StrSplit(data, '\n', absl::SkipEmpty())) {
    if (line[0] != '#') ++points;
  }
  return points;
}

struct Clause {
  std::string colour, marker, title;
};

// The plot clauses of a script that draw points with a title.
std::vector<Clause> Clauses(const std::string& script) {
  static const std::regex clause(
      "lc rgb '(#[0-9a-f]{6})' (pt [0-9]+ ps [0-9.]+)[^\\n]* title '([^']*)'");
  std::vector<Clause> clauses;
  for (std::sregex_iterator it(script.begin(), script.end(), clause), end; it != end; ++it) {
    clauses.push_back({(*it)[1], (*it)[2], (*it)[3]});
  }
  return clauses;
}

// PlotFileNames is what the tools check before writing: every plot the rows can give must be
// in it, with its data and script.
TEST(PlotsTest, PlotFileNamesHoldEveryFileOfEveryPlot) {
  const std::vector<std::string> plots = PlotNames(Grid());
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

TEST(PlotsTest, EveryCaseIsAPointOfItsOwn) {
  const std::vector<ResultRow> rows = Grid();
  for (const PlotFiles& plot : BuildPlots(rows)) {
    SCOPED_TRACE(plot.name);
    EXPECT_EQ(Points(plot.data), static_cast<int>(rows.size()));
  }
}

TEST(PlotsTest, ColourIsTheFormatAndMarkerThePath) {
  const std::vector<Clause> clauses =
      Clauses(ByName(BuildPlots(Grid()))["accuracy_vs_speed"].script);
  ASSERT_THAT(clauses, SizeIs(8));  // format x path x projection
  std::map<std::string, std::set<std::string>> colours, markers;
  std::set<std::string> styles;
  for (const Clause& c : clauses) {
    const std::vector<std::string> words = absl::StrSplit(c.title, ' ');
    ASSERT_THAT(words, SizeIs(3)) << c.title;  // format, path, projection
    colours[words[0]].insert(c.colour);
    markers[words[1] + " " + words[2]].insert(c.marker);
    styles.insert(c.colour + c.marker);
  }
  EXPECT_THAT(colours["nvfp4"], SizeIs(1));
  EXPECT_THAT(colours["mxfp4"], SizeIs(1));
  EXPECT_NE(*colours["nvfp4"].begin(), *colours["mxfp4"].begin());
  EXPECT_THAT(markers, SizeIs(4));
  EXPECT_THAT(markers["w4a8 up"], SizeIs(1));
  EXPECT_NE(markers["w4a8 up"], markers["w4a8 down"]);  // open and filled
  EXPECT_NE(markers["w4a8 up"], markers["w4a16 up"]);
  EXPECT_THAT(styles, SizeIs(8));
  // Seeds and qlens of one series are told apart by the points' labels.
  const std::string data = ByName(BuildPlots(Grid()))["accuracy_vs_speed"].data;
  EXPECT_THAT(data, HasSubstr("\"seed 2 q=8\""));
}

TEST(PlotsTest, SpeedLinesAreNeverAveraged) {
  const PlotFiles speed = ByName(BuildPlots(Grid()))["speed_vs_qlen"];
  // A line per format, path, projection and seed: 16, each through both qlens.
  std::set<std::string> titles;
  for (const Clause& c : Clauses(speed.script)) titles.insert(c.title);
  EXPECT_THAT(titles, SizeIs(16));
  EXPECT_THAT(titles, Contains("nvfp4 w4a8 down seed 2"));
  EXPECT_THAT(speed.data, HasSubstr("# GEMM m: nvfp4 w4a8 down seed 2\n1 2000 1666.67 2222.22\n8 "
                                    "16000 13333.3 17777.8\n"));
}

// A path asked for and auto resolving to the same one: two lines, not a zigzag through both.
TEST(PlotsTest, RepeatedCasesGetLinesOfTheirOwn) {
  std::vector<ResultRow> rows;
  for (int repeat = 0; repeat < 2; ++repeat) {
    for (int64_t qlen : {1, 8}) rows.push_back(Row("nvfp4", "w4a8", "up", 1, qlen));
  }
  std::set<std::string> titles;
  for (const Clause& c : Clauses(ByName(BuildPlots(rows))["speed_vs_qlen"].script)) {
    titles.insert(c.title);
  }
  EXPECT_EQ(titles, (std::set<std::string>{"nvfp4 w4a8", "nvfp4 w4a8 (2)"}));
}

TEST(PlotsTest, TwentyOneSeriesStayDistinct) {
  std::vector<ResultRow> rows;
  for (const char* format : {"nvfp4", "mxfp4", "fp4_float_scale", "float32", "a", "b", "c"}) {
    for (const char* path : {"w4a4", "w4a8", "w4a16"})
      rows.push_back(Row(format, path, "up", 1, 8));
  }
  for (const PlotFiles& plot : BuildPlots(rows)) {
    SCOPED_TRACE(plot.name);
    std::set<std::string> styles;
    for (const Clause& c : Clauses(plot.script)) styles.insert(c.colour + " " + c.marker);
    EXPECT_THAT(styles, SizeIs(21));
  }
}

TEST(PlotsTest, TitlesNameTheMachineAndTheRegime) {
  std::vector<ResultRow> rows = Grid();
  rows.push_back(Row("nvfp4", "w4a8", "up", 1, 8));
  rows.back().measure = "moe";
  rows.back().model = "layer";
  rows.back().working_set_bytes = 1 << 20;  // in cache
  std::map<std::string, PlotFiles> plots = ByName(BuildPlots(rows));
  for (const char* name : {"accuracy_vs_speed", "speed_vs_qlen", "error_vs_distribution"}) {
    EXPECT_THAT(plots[name].script, HasSubstr("on Test CPU 9000, avx2 kernels'")) << name;
  }
  for (const char* name : {"accuracy_vs_speed", "speed_vs_qlen"}) {
    const std::string& script = plots[name].script;
    EXPECT_THAT(script, HasSubstr("set multiplot layout 1,2"));
    EXPECT_THAT(script, HasSubstr("set title 'GEMM m, weights from DRAM (working set 1.0 GiB, "
                                  "L3 32.0 MiB)'"));
    EXPECT_THAT(script, HasSubstr("set title 'MoE layer layer, weights in cache (working set "
                                  "1.0 MiB, L3 32.0 MiB)'"));
  }
}

TEST(PlotsTest, NamesReachScriptsAndDataQuoted) {
  std::vector<ResultRow> rows = {Row("nvfp4", "w4a8", "up", 1, 8),
                                 Row("nvfp4", "w4a8", "up", 1, 16)};
  rows[0].distribution = "it's \"odd\"";
  rows[1].distribution = "two\nlines";
  std::map<std::string, PlotFiles> plots = ByName(BuildPlots(rows));
  // Single-quoted in scripts (gnuplot runs `...` inside double quotes), on one line.
  EXPECT_THAT(plots["error_vs_distribution"].script,
              HasSubstr("set xtics ('it''s \"odd\"' 0, 'two lines' 1)"));
  // Labels in data files in double quotes, so none inside; comments on one line.
  EXPECT_THAT(plots["accuracy_vs_speed"].data, HasSubstr(" \"it's 'odd' q=8\"\n"));
  EXPECT_THAT(plots["accuracy_vs_speed"].data, HasSubstr(" \"two lines q=16\"\n"));
  for (const auto& [name, plot] : plots) {
    for (absl::string_view line : absl::StrSplit(plot.data, '\n', absl::SkipEmpty())) {
      EXPECT_TRUE(line[0] == '#' || absl::ascii_isdigit(line[0])) << name << ": " << line;
    }
  }
}

}  // namespace
}  // namespace fp4moe::experiments
