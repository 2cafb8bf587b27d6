// The strategies of `nasc search` behind one entry point, all with the same data, budget and output format:
// nasc (the method), accuracy-only (the baseline), fixed:OP (Neurosurgeon), device-only, server-only, random:N.
#pragma once
#include <torch/torch.h>

#include <random>
#include <string>
#include <vector>

#include "data/image_set.h"
#include "latency/estimator.h"
#include "search/supernet_search.h"

namespace nasc {

struct Strategy {
  enum Kind { Nasc, AccuracyOnly, Fixed, DeviceOnly, ServerOnly, Random } kind = Nasc;
  std::string fixed_op;  // Fixed
  int samples = 100;     // Random: N feasible configurations scored
  static Strategy parse(const std::string& text, const Space& space);  // throws Error listing the accepted forms
  std::string name() const;
};

struct SearchRequest {
  Strategy strategy;
  double max_latency_ms = std::numeric_limits<double>::infinity();
  int min_device_blocks = 1;
  SearchOptions options;
};

// Runs the strategy; returns the search.json document (architecture, split, latency breakdown, payload, supernet
// validation accuracy, theta, convergence curve, config, seed, timings). Writes checkpoints and search.csv in
// out_dir as it goes. Fails before training when max_latency_ms is below the oracle's floor.
json run_strategy(const SearchRequest& req, const Space& space, const LatencyEstimator& latency,
                  const ImageSet& train_set, torch::Device device, const std::string& out_dir, bool resume);

// Writes a run_strategy result into dir: search.json (the whole document) and search.csv (its history, one row per
// supernet epoch), each atomically. Both `nasc search` and the experiment runner write results through this.
void write_search_result(const std::string& dir, const json& result);

// A random configuration that meets max_ms, for the random:N baseline: the split uniformly among the allowed
// splits (allowed[p]) whose cheapest configuration meets max_ms, then layer by layer an op uniformly among those
// that leave a feasible completion. Not uniform over the feasible set, but it never fails when the set is
// non-empty, where rejection sampling from the uniform distribution rarely hits a tight threshold.
// Returns false when no allowed split can meet max_ms.
bool sample_feasible(const LatencyEstimator& latency, const std::vector<bool>& allowed, double max_ms,
                     std::mt19937_64& rng, Config& out);

// The most probable configuration under theta (rows 0..L-1 the layers' ops, row L the split) that meets max_ms
// among the allowed splits: per split a dynamic programme over layers maximising the sum of log-probabilities,
// on latencies rounded up to a grid of max_ms / kLatencyGrid, so that what it returns truly meets max_ms (it may
// miss a configuration within L grid steps of the threshold). This is what a constrained search returns when
// theta's mode is infeasible, as it is when the search stops before theta has converged. Returns false when no
// allowed configuration meets max_ms at that resolution.
constexpr int kLatencyGrid = 4096;
bool most_likely_feasible(const LatencyEstimator& latency, const Matrix& theta,
                          const std::vector<bool>& allowed, double max_ms, Config& out);

// The error run_strategy throws for an impossible threshold, exposed for tests and the experiment runner.
void check_threshold(const LatencyEstimator& latency, double max_latency_ms, int min_device_blocks);

}  // namespace nasc
