#include "experiments/plot_style.h"

#include <cmath>

#include "absl/strings/str_format.h"

namespace fp4moe::experiments {
namespace {

// Told apart at a glance, also by most colour-blind readers (blue/orange first).
constexpr const char* kPalette[] = {"#1b5fb0", "#f08c00", "#2ca048", "#d0302a", "#8050c0",
                                    "#00a8b0", "#a06020", "#e060b0", "#606060", "#a8b800"};

std::string Hsv(double hue, double saturation, double value) {
  const double h = std::fmod(hue, 1.0) * 6;
  const int sector = static_cast<int>(h);
  const double f = h - sector;
  const double p = value * (1 - saturation), q = value * (1 - saturation * f),
               t = value * (1 - saturation * (1 - f));
  const double rgb[6][3] = {{value, t, p}, {q, value, p}, {p, value, t},
                            {p, q, value}, {t, p, value}, {value, p, q}};
  const double* c = rgb[sector % 6];
  return absl::StrFormat("#%02x%02x%02x", static_cast<int>(std::lround(255 * c[0])),
                         static_cast<int>(std::lround(255 * c[1])),
                         static_cast<int>(std::lround(255 * c[2])));
}

}  // namespace

std::vector<std::string> DistinctColours(size_t count) {
  constexpr size_t kPaletteSize = sizeof kPalette / sizeof kPalette[0];
  std::vector<std::string> colours;
  for (size_t i = 0; i < count; ++i) {
    // Hues for every series once the palette is short, so that no hue lands on a palette colour.
    colours.push_back(count <= kPaletteSize ? kPalette[i]
                                            : Hsv(static_cast<double>(i / 2) / ((count + 1) / 2),
                                                  0.9, i % 2 == 0 ? 0.9 : 0.55));
  }
  return colours;
}

std::string Marker(size_t index, bool filled) {
  // gnuplot's point types: an open shape, then the same shape filled.
  constexpr int kOpen[] = {6, 4, 8, 10, 12, 14};  // circle, square, triangles, diamond, pentagon
  constexpr size_t kShapes = sizeof kOpen / sizeof kOpen[0];
  return absl::StrFormat("pt %d ps %.1f", kOpen[index % kShapes] + (filled ? 1 : 0),
                         1.5 + 0.8 * static_cast<double>(index / kShapes));
}

std::string Dash(size_t index) {
  return absl::StrFormat("dt %d lw %.1f", static_cast<int>(index % 5) + 1,
                         1.5 + static_cast<double>(index / 5));
}

}  // namespace fp4moe::experiments
