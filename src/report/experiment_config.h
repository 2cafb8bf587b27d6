// The configuration of an experiment grid (configs/*.json): scenarios, privacy floors, bandwidths, threshold
// fractions, strategies, seeds and the search and retraining recipes, validated before anything runs.
#pragma once
#include <string>
#include <vector>

#include "common/json_io.h"
#include "search/supernet_search.h"
#include "train/recipe.h"

namespace nasc {

// One hardware pairing; crossed with every privacy floor of the config.
struct ScenarioSpec {
  std::string name;  // letters, digits, '-', '_' or '.': it names directories
  std::string device_profile, server_profile;
  bool optional = false;  // skipped with a note while a profile file is absent (e.g. a GPU table measured later)
  // A recorded uplink (nasc latency --link-trace formats): the scenario then has one link cell per privacy floor,
  // "trace", instead of one per bandwidth: each split's uplink priced at latency_quantile of the trace, the
  // downlink at the trace's mean rate, as `nasc search --link-trace` does. Empty: the config's bandwidths.
  std::string link_trace;
  double latency_quantile = 0.95;
  json to_json() const;
  static ScenarioSpec from_json(const json& j, const std::string& context);  // throws naming the field
};

struct ExperimentConfig {
  std::string name = "experiment";
  std::string space = "fmnist";  // preset or space JSON file
  std::string data = "fmnist";   // DataSpec text
  std::string encoding = "int8";
  double delay_ms = 5;
  bool return_result = false;
  std::vector<ScenarioSpec> scenarios;
  std::vector<int> min_device_blocks = {1, 0};  // privacy floors: 1 keeps the raw input on the device
  std::vector<double> bandwidths_mbps;
  // Where the thresholds lie; exactly one of the two is given. f in (0, 1]: T = floor + f * (accuracy-only -
  // floor) (not 0: only the oracle's own configuration would be feasible, which random search cannot be expected
  // to draw). q in (0, 1): T = the q-quantile of the latency of the space's networks at their fastest allowed
  // split (latency_quantile_ms), so that the thresholds do not wait for accuracy-only and bind equally on any link.
  std::vector<double> threshold_fractions;
  std::vector<double> threshold_quantiles;
  size_t num_thresholds() const { return threshold_fractions.size() + threshold_quantiles.size(); }
  std::vector<uint64_t> seeds;
  std::vector<std::string> strategies;          // accuracy-only (every cell's reference) is required with fractions
  SearchOptions search;                         // its seed is replaced by each run's
  TrainOptions retrain;                         // one recipe for every found network; seed likewise
  // Retrain each found network with its payload fake-quantised at its split (encoding above), as deployed. Off by
  // default so that experiment folders made before it stay resumable; in the fingerprint only when on.
  bool retrain_as_deployed = false;
  // A truth table of the space (e.g. truth/nas-bench-macro-cifar10.json): every answer is judged by it (true
  // accuracy, regret), and answers it covers are not retrained. Empty: none.
  std::string truth;

  json to_json() const;
  // Validates everything that can be checked without running: lists non-empty, ranges, names, strategies.
  static ExperimentConfig from_json(const json& j, const std::string& context);
  // Reads a config file. Relative profile paths are looked up in the working directory, next to the config file,
  // then under each of `search_dirs`, in that order.
  static ExperimentConfig load(const std::string& path, const std::vector<std::string>& search_dirs = {});
};

}  // namespace nasc
