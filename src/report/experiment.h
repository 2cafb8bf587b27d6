// The grid behind `nasc experiment`: scenarios x privacy floors x bandwidths x thresholds x strategies x seeds, each
// run resumable in its own directory, every found network retrained, then tabulated and plotted.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "report/experiment_config.h"

namespace nasc {

// A deterministic share of the grid, as in `--shard K/N`: run i (in the grid's fixed order) belongs to shard
// (i mod N) + 1. Shards may run at once, on one machine or on many sharing the output folder.
struct GridShare {
  int index = 1, count = 1;
  static GridShare parse(const std::string& text);  // "K/N" with 1 <= K <= N; throws Error naming the text
  bool owns(int run) const { return run % count == index - 1; }
};

struct ExperimentStats {
  int runs = 0;  // rows of results.csv (finished runs, this shard's or others')
  int total = 0;           // runs in the grid
  std::vector<std::string> missing;  // run directories not finished yet (another shard's, or interrupted)
  int runs_reused = 0;     // finished before this invocation, read back without recomputation
  int searches_run = 0;    // run_strategy calls made (shared supernets included)
  int retrains_run = 0;    // stand-alone trainings made (the search-cost reference included)
  int retrains_reused = 0;  // found networks whose retraining another run had already done
  std::vector<std::string> skipped_scenarios;  // optional ones whose profiles are absent
  std::vector<std::string> plots;              // image files written
};

// Runs (or resumes) the grid in out_dir, then writes results.csv, cost.csv, results.md and plots/ from every
// finished run. A finished run is read back, an interrupted one continues from its checkpoint. With a share, only
// that shard's runs are made (and the unconstrained baselines its thresholds need, which any shard may compute:
// each run is made under its own file lock, so none is made twice). Throws an Error when out_dir holds an
// experiment made with different search, retraining or data settings.
ExperimentStats run_experiment(const ExperimentConfig& cfg, const std::string& out_dir, torch::Device device,
                               const GridShare& share = {});

// Runs nothing: merges the finished runs of the experiment in out_dir (its grid from out_dir/experiment.json)
// into results.csv, results.md and plots/, and lists the runs still missing. Profiles named by relative paths are
// looked up in the working directory, then under each of `search_dirs`.
ExperimentStats report_experiment(const std::string& out_dir, const std::vector<std::string>& search_dirs = {});

// Rewrites results.md and plots/ from out_dir/results.csv and cost.csv; returns the image files.
std::vector<std::string> write_reports(const std::string& out_dir, const std::string& title);

}  // namespace nasc
