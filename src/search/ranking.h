// Ranking-based utilities for ASNG under a latency constraint (ARCHITECTURE.md §4 step 3): turns the losses and
// constraint violations of lambda sampled configurations into the weights of the natural-gradient step.
#pragma once
#include <vector>

namespace nasc {

// v = max(0, T - T_max): how far a configuration's latency exceeds the threshold.
double latency_violation(double latency, double t_max);

// Utilities u_1..u_lambda of lambda >= 2 samples with losses f_i (lower is better) and violations v_i >= 0.
//
// Order: feasible samples (v_i = 0) first, by f_i ascending; infeasible ones after, by v_i ascending (their loss
// is ignored). Two samples tie when their keys are equal: (feasible, f) or (infeasible, v).
// Weights by position r = 1..lambda in that order, with mu = ceil(lambda / 4):
//     w_r = +1 for r <= mu,   w_r = -1 for r > lambda - mu,   w_r = 0 otherwise;
// tied samples all get the mean of w over the positions they occupy. Then u_i = w_i / lambda (the ASNG-NAS
// convention: the reference's +-1/mu averaged over lambda differs by the constant mu, which the Fisher-normalised
// step cancels).
// Examples: lambda = 2 gives {+1/2, -1/2}, or {0, 0} on a tie; lambda = 4 gives {+1/4, 0, 0, -1/4}.
// Throws Error on mismatched sizes, lambda < 2, a NaN loss or a negative/NaN violation.
std::vector<double> rank_utility(const std::vector<double>& losses, const std::vector<double>& violations);

// The unconstrained case: every sample feasible.
std::vector<double> rank_utility(const std::vector<double>& losses);

// The constraint as a penalty instead of an order: every sample ranked by f_i + weight x v_i / t_max, so that a
// sample just over the threshold with a much lower loss beats a feasible one. Throws Error on weight < 0 or
// t_max <= 0, and as rank_utility.
std::vector<double> rank_utility_penalised(const std::vector<double>& losses, const std::vector<double>& violations,
                                           double t_max, double weight);

}  // namespace nasc
