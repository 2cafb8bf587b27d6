// The named search budgets and the threshold rules, shared by `nasc search` and `nasc experiment`.
#pragma once
#include <string>
#include <vector>

#include "latency/estimator.h"
#include "search/supernet_search.h"

namespace nasc {

// quick: 8 supernet epochs on all training images (minutes on a 2-core CPU for fmnist); paper: 50 epochs, for a
// GPU. Throws Error naming the accepted budgets.
SearchOptions budget_options(const std::string& budget);
std::vector<std::string> budget_names();

// T = floor + f x (reference - floor): f = 0 is the floor of the space (the oracle), f = 1 the reference latency.
// `nasc search --latency-frac` takes the largest network as reference (largest_network_ms), experiment configs
// the accuracy-only baseline's latency (threshold_fractions), so that their thresholds bind for any hardware.
double threshold_between(double floor_ms, double reference_ms, double fraction);

// The q-quantile (numpy's interpolation) of the latency of the space's networks, each at its fastest split allowed
// by min_device_blocks, every network counted once: over all of them when the space has at most 65,536, else over
// 20,000 drawn uniformly with a fixed seed (the same thresholds on every run).
double latency_quantile_ms(const LatencyEstimator& latency, int min_device_blocks, double q);

// Latency of the network with the space's largest op (k5_e6 when the space has it, else its first op) in every
// layer, at its best split allowed by min_device_blocks.
double largest_network_ms(const LatencyEstimator& latency, int min_device_blocks);

}  // namespace nasc
