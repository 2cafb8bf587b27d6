// Feasible candidates under a latency threshold: random ones for the random:N baseline, and the most probable one
// under theta for a search whose mode misses the threshold. Both only read the latency tables.
#pragma once
#include <random>
#include <vector>

#include "latency/estimator.h"
#include "search/categorical.h"
#include "search/supernet_search.h"

namespace nasc {

// Random candidates that meet max_ms, for the random:N baseline and for a search that samples theta within the
// feasible set. The split uniformly among the allowed splits (allowed[p]) whose cheapest configuration meets
// max_ms, then layer by layer, in a random order, an op uniformly among those that leave a feasible completion.
// Not uniform over the feasible set, but it never fails when the set is non-empty, where rejection sampling from
// the uniform distribution almost never hits a tight threshold (none of 4,000 uniform samples meets 17.6 ms on the
// Raspberry Pi 4 -> Titan RTX profiles). With theta (rows 0..L-1 the layers' ops, row L the split), every uniform
// choice is instead in proportion to theta's probabilities among the choices that stay feasible: a sample of theta
// within the feasible set, for a search that compares only networks that meet the threshold.
// Each block's cheapest op per split and each split's floor are computed once, at construction, so a loop that
// draws a sample per step pays only for the draw.
class FeasibleSampler {
 public:
  FeasibleSampler(const LatencyEstimator& latency, const std::vector<bool>& allowed, double max_ms);
  // No allowed split can meet max_ms: sample() returns false.
  bool empty() const { return splits_.empty(); }
  bool sample(std::mt19937_64& rng, Candidate& out, const Matrix* theta = nullptr) const;

 private:
  const LatencyEstimator& latency_;
  double max_ms_;
  std::vector<int> splits_;                    // the allowed splits whose floor meets max_ms
  std::vector<std::vector<double>> cheapest_;  // [p][b]: block b's cheapest op on its side of split p
};

// One sample of FeasibleSampler(latency, allowed, max_ms), for a caller that draws once.
bool sample_feasible(const LatencyEstimator& latency, const std::vector<bool>& allowed, double max_ms,
                     std::mt19937_64& rng, Candidate& out, const Matrix* theta = nullptr);

// The most probable candidate under theta (rows 0..L-1 the layers' ops, row L the split) that meets max_ms
// among the allowed splits: per split a dynamic programme over layers maximising the sum of log-probabilities,
// on latencies rounded up to a grid of max_ms / kLatencyGrid, so that what it returns truly meets max_ms (it may
// miss a configuration within L grid steps of the threshold). This is what a constrained search returns when
// theta's mode is infeasible, as it is when the search stops before theta has converged. Returns false when no
// allowed configuration meets max_ms at that resolution. min_ms > 0 also requires a latency of at least min_ms
// (missing, likewise, configurations within L grid steps of it).
constexpr int kLatencyGrid = 4096;
bool most_likely_feasible(const LatencyEstimator& latency, const Matrix& theta,
                          const std::vector<bool>& allowed, double max_ms, Candidate& out, double min_ms = 0);

// The free answers a user gets without a search, for comparison: the slowest architecture whose latency-minimal
// split p >= min_device_blocks meets max_ms (fill the budget), and the one with the most multiply-accumulates
// that meets it (ties: the faster). Exact, by enumeration, in spaces of at most kEnumerationLimit architectures;
// in larger ones largest_feasible throws and max_macs_feasible is the dynamic programme of most_likely_feasible
// on its latency grid (any split, the most MACs among candidates that meet max_ms with a margin of L grid steps).
// Return false when nothing meets max_ms.
constexpr int64_t kEnumerationLimit = 2000000;
bool largest_feasible(const LatencyEstimator& latency, int min_device_blocks, double max_ms, Candidate& out);
bool max_macs_feasible(const LatencyEstimator& latency, int min_device_blocks, double max_ms, Candidate& out);

// A starting theta whose samples meet max_ms with probability about `fraction`, for a search whose uniform start
// would rank almost only infeasible samples (ranked by how far they miss, they drive every row to the cheapest
// choice before any two feasible samples are compared). Each allowed category k of variable d is weighted by
// exp(-beta x m_dk / max_ms), m_dk being the mean latency of `start`'s samples with c_d set to k (so a split that
// crosses a slow link is priced with the link), floored as ASNG floors theta; beta is found by bisection on the
// share of 512 samples that meet max_ms. Returns start's theta when that share is already >= fraction. When no
// beta reaches the fraction (the choices interact: the cheapest split depends on the ops), m is measured again
// under the most tilted distribution, up to six rounds; failing that, the distribution with the largest share.
Matrix theta_meeting_threshold(const LatencyEstimator& latency, const CategoricalDistribution& start, double max_ms,
                               double fraction, uint64_t seed);

}  // namespace nasc
