// The grid behind `nasc experiment`: scenarios x privacy floors x bandwidths x thresholds x strategies x seeds, each
// run resumable in its own directory, every found network retrained, then tabulated and plotted.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "report/experiment_config.h"

namespace nasc {

struct ExperimentStats {
  int runs = 0;  // rows of results.csv
  int runs_reused = 0;     // finished before this invocation, read back without recomputation
  int searches_run = 0;    // run_strategy calls made (shared supernets included)
  int retrains_run = 0;    // stand-alone trainings made (the search-cost reference included)
  int retrains_reused = 0;  // found networks whose retraining another run had already done
  std::vector<std::string> skipped_scenarios;  // optional ones whose profiles are absent
  std::vector<std::string> plots;              // image files written
};

// Runs (or resumes) the grid in out_dir, then writes results.csv, cost.csv, results.md and plots/. A finished
// run is read back, an interrupted one continues from its checkpoint. Throws an Error when out_dir holds an
// experiment made with different search, retraining or data settings.
ExperimentStats run_experiment(const ExperimentConfig& cfg, const std::string& out_dir, torch::Device device);

// Rewrites results.md and plots/ from out_dir/results.csv and cost.csv; returns the image files.
std::vector<std::string> write_reports(const std::string& out_dir, const std::string& title);

}  // namespace nasc
