#include "search/budget.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "common/error.h"
#include "common/stats.h"

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

double latency_quantile_ms(const LatencyEstimator& latency, int min_device_blocks, double q) {
  const Space& space = latency.space();
  const int L = space.num_layers(), D = space.num_ops();
  constexpr double kEnumerateUpTo = 65536;
  constexpr int kDraws = 20000;
  std::vector<double> ms;
  Arch arch(L, 0);
  if (std::pow(double(D), double(L)) <= kEnumerateUpTo) {
    for (;;) {  // every architecture, as an odometer over the layers' op indices
      ms.push_back(latency.best_split(arch, min_device_blocks).total_ms);
      int l = 0;
      while (l < L && ++arch[l] == D) arch[l++] = 0;
      if (l == L) break;
    }
  } else {
    std::mt19937_64 rng(0x9A47A11EULL);
    std::uniform_int_distribution<int> op(0, D - 1);
    for (int i = 0; i < kDraws; ++i) {
      for (int& o : arch) o = op(rng);
      ms.push_back(latency.best_split(arch, min_device_blocks).total_ms);
    }
  }
  std::sort(ms.begin(), ms.end());
  return quantile_sorted(ms, q);
}

double largest_network_ms(const LatencyEstimator& latency, int min_device_blocks) {
  const Space& space = latency.space();
  Arch largest(space.num_layers(), space.op_index("k5_e6") >= 0 ? space.op_index("k5_e6") : 0);
  return latency.best_split(largest, min_device_blocks).total_ms;
}

}  // namespace nasc
