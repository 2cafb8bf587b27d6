// Figures of an experiment through gnuplot: accuracy against latency per bandwidth with the Pareto front, and
// stacked latency breakdowns per strategy; each as PNG and SVG, with the script and data kept beside them.
#pragma once
#include <string>
#include <vector>

#include "report/tables.h"

namespace nasc {

struct PlotFiles {
  std::string script;               // plots.gp, rerunnable by hand: cd DIR && gnuplot plots.gp
  std::vector<std::string> images;  // paths of the PNG and SVG files
};

// Writes the data files and script into `dir` (replaced as a whole) and runs gnuplot there. Throws an Error naming
// the script and gnuplot's log when gnuplot is missing or fails.
PlotFiles write_plots(const std::vector<ResultRow>& rows, const std::string& dir);

}  // namespace nasc
