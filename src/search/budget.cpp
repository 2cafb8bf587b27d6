#include "search/budget.h"

#include "common/error.h"

namespace nasc {

std::vector<std::string> budget_names() { return {"quick", "paper"}; }

SearchOptions budget_options(const std::string& budget) {
  SearchOptions o;
  if (budget == "quick") {
    o.epochs = 8;
    o.train_limit = 0;  // all 60,000: 30,000 train the weights, 30,000 score configurations
    o.eval_limit = 2000;
  } else if (budget == "paper") {
    o.epochs = 50;
    o.train_limit = 0;
    o.eval_limit = 0;
  } else {
    fail("unknown budget '", budget, "': expected quick or paper");
  }
  return o;
}

double threshold_between(double floor_ms, double reference_ms, double fraction) {
  return floor_ms + fraction * (reference_ms - floor_ms);
}

double largest_network_ms(const LatencyEstimator& latency, int min_device_blocks) {
  const Space& space = latency.space();
  Arch largest(space.num_layers(), space.op_index("k5_e6") >= 0 ? space.op_index("k5_e6") : 0);
  return latency.best_split(largest, min_device_blocks).total_ms;
}

}  // namespace nasc
