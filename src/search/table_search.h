// Optimisers on a truth table instead of a supernet, to tell optimiser faults from proxy faults: NASC's constrained
// ASNG, random search and regularised evolution over (ops, split), each allowed the same number of evaluated
// networks and scoring a network by its table accuracy plus optional noise: a proxy of chosen quality.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "latency/estimator.h"
#include "search/supernet_search.h"
#include "search/truth.h"

namespace nasc {

// The problem and the evaluator's quality.
struct TableProblem {
  double max_latency_ms = 0;
  int min_device_blocks = 1;
  // The proxy's score of an architecture: true accuracy + noise_sd x a standard normal fixed per (architecture,
  // noise_seed), as a supernet gives one estimate per network however often it is asked.
  double noise_sd = 0;
  uint64_t noise_seed = 0;
};

struct TableSearchResult {
  Candidate answer;
  double true_acc = 0;      // of the answer
  double regret = 0;        // best feasible true accuracy - true_acc
  int64_t evaluations = 0;  // networks scored by the proxy (feasible samples; infeasible ones are ranked by latency)
};

// NASC's search with the table as evaluator: lambda samples per step from theta over (ops, split), feasible ones
// ranked by proxy score before infeasible ones by violation (rank_utility), an ASNG step, until `evaluations`
// networks were scored or theta converged; the answer is the mode of theta, or the most probable feasible
// configuration when the mode misses T.
TableSearchResult table_asng(const TruthTable& truth, const LatencyEstimator& latency, const TableProblem& problem,
                             int64_t evaluations, int lambda, double delta_init, uint64_t seed);
// Random search: `evaluations` feasible samples (sample_feasible), the best by proxy score.
TableSearchResult table_random(const TruthTable& truth, const LatencyEstimator& latency, const TableProblem& problem,
                               int64_t evaluations, uint64_t seed);
// Regularised evolution (Real et al., 2019): a population of `population` feasible networks; each step the best by
// proxy score of `tournament` random members is mutated in one variable (an op or the split) until feasible, the
// child joins and the oldest leaves; the answer is the best scored network.
TableSearchResult table_evolution(const TruthTable& truth, const LatencyEstimator& latency, const TableProblem& problem,
                                  int64_t evaluations, int population, int tournament, uint64_t seed);

// The proxy's standard normal noise of architecture `a` under `noise_seed` (scaled by TableProblem::noise_sd).
double proxy_noise(const Space& space, const Arch& a, uint64_t noise_seed);

// The noise standard deviation (points) at which the proxy's Kendall tau with the truth, over the table's
// networks that meet the threshold, is `tau` (bisection; 0 for tau >= 1). Throws Error for tau outside (0, 1].
double noise_for_tau(const TruthTable& truth, const LatencyEstimator& latency, const TableProblem& problem, double tau);

}  // namespace nasc
