#ifndef FP4MOE_EXPERIMENTS_PLOT_STYLE_H_
#define FP4MOE_EXPERIMENTS_PLOT_STYLE_H_

// How plot series look: a colour per weight format, a marker per path, a dash pattern per
// variant of a line; each stays distinct however many there are.

#include <cstddef>
#include <string>
#include <vector>

namespace fp4moe::experiments {

// `count` colours as gnuplot's "#rrggbb", all different: a palette of well-separated colours
// while it lasts, else hues evenly around the colour wheel at two brightnesses.
std::vector<std::string> DistinctColours(size_t count);

// The marker of the `index`th path as gnuplot's "pt N ps S": six shapes, each filled or open,
// growing in size each time the shapes come round again.
std::string Marker(size_t index, bool filled);

// The line of the `index`th variant as "dt N lw W": five dash patterns, thicker each round.
std::string Dash(size_t index);

}  // namespace fp4moe::experiments

#endif  // FP4MOE_EXPERIMENTS_PLOT_STYLE_H_
