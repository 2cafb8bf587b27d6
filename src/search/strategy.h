// The strategies of `nasc search` behind one entry point, all with the same data, budget and output format:
// nasc (the method), accuracy-only (the baseline), fixed:OP (Neurosurgeon), device-only, server-only, random:N, and
// the free answers largest-feasible and max-flops-feasible (no training). With a truth table, every answer is judged.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "data/image_set.h"
#include "latency/estimator.h"
#include "search/supernet_search.h"
#include "search/truth.h"

namespace nasc {

class SearchStrategy;  // one per strategy, in strategy.cpp's registry

// A strategy as the code that runs it sees one: its name, whether it trains a supernet, whether it honours the
// threshold while searching, and which of its supernets may be shared across runs. Every strategy is an entry of
// one registry (name or name:ARG -> factory); nothing outside it asks which strategy it is.
class Strategy {
 public:
  Strategy();  // nasc
  explicit Strategy(std::shared_ptr<const SearchStrategy> impl);
  // Throws Error naming the text and listing accepted_forms().
  static Strategy parse(const std::string& text, const Space& space);
  // "nasc, accuracy-only, fixed:OP, ..." from the registry, for errors and --help.
  static std::string accepted_forms();
  std::string name() const;
  // Whether it trains a supernet (and so reads the training images); fixed:OP and the free answers do not.
  bool trains() const;
  // false: it searches without the threshold and cuts its answer afterwards (accuracy-only), so it runs where no
  // threshold is given and a threshold below the oracle's floor does not stop it.
  bool constrained() const;
  // Runs whose strategy gives the same non-empty key (for the same seed) train the same supernet, which neither the
  // threshold nor the link shapes; an experiment trains it once. Empty: every run trains its own.
  std::string shared_supernet(int min_device_blocks) const;
  const SearchStrategy& impl() const { return *impl_; }

 private:
  std::shared_ptr<const SearchStrategy> impl_;
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

// The request that trains only the supernet a run with req would share (Strategy::shared_supernet): req, or for
// random:N one unconstrained sample, so that a threshold that few draws meet cannot fail the shared training.
SearchRequest shared_supernet_request(const SearchRequest& req);

// Writes a run_strategy result into dir: search.json (the whole document) and search.csv (its history, one row per
// supernet epoch), each atomically. Both `nasc search` and the experiment runner write results through this.
void write_search_result(const std::string& dir, const json& result);

// The error run_strategy throws for an impossible threshold; nasc search and the experiment runner call it before
// loading data, so that an impossible threshold fails at once.
void check_threshold(const LatencyEstimator& latency, double max_latency_ms, int min_device_blocks);

}  // namespace nasc
