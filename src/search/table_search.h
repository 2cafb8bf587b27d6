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
  // Fresh noise on every evaluation (points): a supernet scores each sample on one small batch, so asking twice
  // gives two answers (about 4.4 points of binomial spread at 40% accuracy on 128 images).
  double eval_noise_sd = 0;
};

struct TableSearchResult {
  Candidate answer;
  double true_acc = 0;      // of the answer
  double regret = 0;        // best feasible true accuracy - true_acc
  int64_t evaluations = 0;  // networks scored by the proxy (feasible samples; infeasible ones are ranked by latency)
};

// How the table-driven ASNG ranks, samples and answers: the theta-side variants a supernet search could use, so that
// the table tells which of them help the optimiser before a supernet is trained. Feasible sampling is nasc search's;
// the others were its options until results/table-variants measured them no better, and stay here as that study's
// instrument.
struct TableAsngOptions {
  int lambda = 2;
  double delta_init = 1.0;
  bool tie_infeasible = false;      // infeasible samples tie instead of ranking by violation
  bool start_at_threshold = false;  // theta starts where about half its samples meet T (theta_meeting_threshold)
  bool feasible_sampling = false;   // samples drawn from theta within the feasible set (sample_feasible), ranked by score
  bool best_seen = false;           // the answer is the best-scored sample, not theta's mode (or its repair)
  bool best_split = false;          // every sample runs at its fastest allowed split; theta learns no split
  double soft_constraint = 0;       // > 0: rank all by error + this x violation / T (error = 1 - accuracy)
  double budget_reward = 0;         // feasible samples ranked by error - this x capacity (device time / largest's)
  std::string name() const;         // "asng" with its options, e.g. "asng+fs+best"
  // The options name() writes (lambda, when not 2, as "asng-l4"); throws Error naming what it did not know.
  static TableAsngOptions parse(const std::string& name);
};

// NASC's search with the table as evaluator: lambda samples per step from theta over (ops, split), feasible ones
// ranked by proxy score before infeasible ones by violation (rank_utility), an ASNG step, until `evaluations`
// networks were scored or theta converged; the answer is the mode of theta, or the most probable feasible
// configuration when the mode misses T (or, with best_seen, the best-scored sample).
TableSearchResult table_asng(const TruthTable& truth, const LatencyEstimator& latency, const TableProblem& problem,
                             int64_t evaluations, const TableAsngOptions& options, uint64_t seed);
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
