// The strategies of `nasc search` behind one entry point, all with the same data, budget and output format:
// nasc (the method), accuracy-only (the baseline), fixed:OP (Neurosurgeon), device-only, server-only, random:N, and
// the free answers largest-feasible and max-flops-feasible (no training). With a truth table, every answer is judged.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "data/image_set.h"
#include "latency/estimator.h"
#include "search/supernet_search.h"
#include "search/truth.h"

namespace nasc {

struct Strategy {
  enum Kind { Nasc, AccuracyOnly, Fixed, DeviceOnly, ServerOnly, Random, LargestFeasible, MaxFlopsFeasible } kind = Nasc;
  std::string fixed_op;  // Fixed
  int samples = 100;     // Random: N feasible configurations scored
  static Strategy parse(const std::string& text, const Space& space);  // throws Error listing the accepted forms
  std::string name() const;
  // Whether it trains a supernet (and so reads the training images); fixed:OP and the free answers do not.
  bool trains() const { return kind != Fixed && kind != LargestFeasible && kind != MaxFlopsFeasible; }
};

struct SearchRequest {
  Strategy strategy;
  double max_latency_ms = std::numeric_limits<double>::infinity();
  int min_device_blocks = 1;
  SearchOptions options;
  const TruthTable* truth = nullptr;  // when set, the result carries the answer's true accuracy and regret
};

// Runs the strategy; returns the search.json document (architecture, split, latency breakdown, payload, supernet
// validation accuracy, theta, convergence curve, config, seed, timings). Writes checkpoints and search.csv in
// out_dir as it goes. Fails before training when max_latency_ms is below the oracle's floor.
json run_strategy(const SearchRequest& req, const Space& space, const LatencyEstimator& latency,
                  const ImageSet& train_set, torch::Device device, const std::string& out_dir, bool resume);

// Writes a run_strategy result into dir: search.json (the whole document) and search.csv (its history, one row per
// supernet epoch), each atomically. Both `nasc search` and the experiment runner write results through this.
void write_search_result(const std::string& dir, const json& result);

// The error run_strategy throws for an impossible threshold; nasc search and the experiment runner call it before
// loading data, so that an impossible threshold fails at once.
void check_threshold(const LatencyEstimator& latency, double max_latency_ms, int min_device_blocks);

}  // namespace nasc
