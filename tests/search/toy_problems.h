// Synthetic objectives with known optima for the search tests, and a loop that runs ASNG on them the way the
// NASC search does (sample lambda, rank by constraint then loss, step).
#pragma once
#include <algorithm>
#include <functional>
#include <random>
#include <vector>

#include "search/asng.h"
#include "search/ranking.h"

namespace nasc::toy {

// loss(c) = -(number of positions where c equals a hidden target); the target is the unique optimum.
struct MatchTarget {
  Sample target;
  double loss(const Sample& c) const {
    int hits = 0;
    for (size_t d = 0; d < c.size(); ++d) hits += c[d] == target[d];
    return -double(hits);
  }
  double violation(const Sample&) const { return 0.0; }
};

inline Sample random_target(int dims, int categories, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Sample t(size_t(dims), 0);
  for (int& v : t) v = int(rng() % uint64_t(categories));
  return t;
}

// Linear value under a linear cost budget: loss(c) = -sum_d value[d][c_d], violation(c) =
// max(0, sum_d cost[d][c_d] - budget); the same shape as accuracy under a latency threshold.
struct LinearBudget {
  Matrix value, cost;
  double budget = 0;

  double loss(const Sample& c) const {
    double v = 0;
    for (size_t d = 0; d < c.size(); ++d) v += value[d][c[d]];
    return -v;
  }
  double violation(const Sample& c) const {
    double t = 0;
    for (size_t d = 0; d < c.size(); ++d) t += cost[d][c[d]];
    return latency_violation(t, budget);
  }
  // Enumerates every configuration; returns the feasible one with the lowest loss and how many share that loss.
  std::pair<Sample, int> brute_force_best() const {
    const size_t dims = value.size();
    Sample c(dims, 0), best;
    double best_loss = 0;
    int count = 0;
    while (true) {
      if (violation(c) == 0) {
        double l = loss(c);
        if (best.empty() || l < best_loss) {
          best = c, best_loss = l, count = 1;
        } else if (l == best_loss) {
          ++count;
        }
      }
      size_t d = 0;
      while (d < dims && ++c[d] == int(value[d].size())) c[d++] = 0;
      if (d == dims) break;
    }
    return {best, count};
  }
};

// Runs ASNG with lambda samples per step until its mode equals `expected` with every largest probability
// >= threshold, or max_steps. Returns the steps used, or -1. on_step (optional) sees the optimiser and the
// samples after each step.
template <typename Problem>
int run_until(AdaptiveSNG& asng, const Problem& problem, const Sample& expected, int lambda, double threshold,
              int max_steps, std::mt19937_64& rng,
              const std::function<void(const AdaptiveSNG&, const std::vector<Sample>&)>& on_step = {}) {
  for (int t = 1; t <= max_steps; ++t) {
    std::vector<Sample> samples;
    std::vector<double> losses, violations;
    for (int i = 0; i < lambda; ++i) {
      samples.push_back(asng.sample(rng));
      losses.push_back(problem.loss(samples.back()));
      violations.push_back(problem.violation(samples.back()));
    }
    asng.step(samples, rank_utility(losses, violations));
    if (on_step) on_step(asng, samples);
    if (asng.converged(threshold) && asng.mode() == expected) return t;
  }
  return -1;
}

}  // namespace nasc::toy
