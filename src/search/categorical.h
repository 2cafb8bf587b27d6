// Independent categorical distributions over D decision variables (ARCHITECTURE.md §4): the search distribution that
// ASNG moves. Torch-free; knows nothing of networks, only category indices.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/json_io.h"

namespace nasc {

using Sample = std::vector<int>;  // one category index per variable
using Matrix = std::vector<std::vector<double>>;  // ragged: row d has K_d entries

// Variable d has K_d categories, of which a mask may allow only some (e.g. split points forbidden by a
// privacy floor). A forbidden category has probability 0 and is never sampled. A variable with a single
// allowed category is fixed: probability 1, never moves, and does not count towards D in the floor.
//
// Probability floor (ASNG-NAS range restriction): theta_dk >= theta_min_d = 1 / (D' (K'_d - 1)) for every
// allowed k, where K'_d is the number of allowed categories of variable d and D' the number of variables with
// K'_d > 1. It keeps every allowed category reachable and bounds the Fisher norm; it also caps the largest
// probability of a free variable at 1 - 1/D'. With D' = 1, or D' = 2 and binary variables, the floor leaves no
// room (K'_d theta_min >= 1) and pins theta at uniform; AdaptiveSNG refuses such distributions.
class CategoricalDistribution {
 public:
  // Uniform over all categories. Throws Error when a count is < 1.
  explicit CategoricalDistribution(std::vector<int> categories);
  // Uniform over the allowed categories; allowed[d] has K_d entries with at least one true.
  CategoricalDistribution(std::vector<int> categories, std::vector<std::vector<bool>> allowed);

  int num_variables() const { return int(categories_.size()); }
  const std::vector<int>& categories() const { return categories_; }
  int num_allowed(int d) const { return allowed_count_[d]; }
  bool allowed(int d, int k) const { return allowed_[d][k]; }
  int num_free_variables() const { return free_variables_; }
  // Free parameters, sum_d (K'_d - 1): the dimension of the natural-gradient vector.
  int num_parameters() const;

  const Matrix& theta() const { return theta_; }
  double prob(int d, int k) const { return theta_[d][k]; }
  // Replaces theta as given (no renormalisation, so states restore bit-exactly). Throws Error unless every row
  // has K_d finite non-negative entries summing to 1 (within 1e-9) with zeros on forbidden categories.
  void set_theta(Matrix theta);

  double theta_min(int d) const;  // 0 for a fixed variable

  // Draws c_d with probability theta_dk, one uniform double per variable from rng (53 bits, so the stream of
  // samples is the same on every platform).
  Sample sample(std::mt19937_64& rng) const;
  Matrix one_hot(const Sample& c) const;
  double log_likelihood(const Sample& c) const;  // -inf when c uses a forbidden category
  Sample mode() const;  // most probable category per variable; the lowest index on ties
  // Mean over free variables of the largest probability (1 when there are none); the reference's
  // theta_converge.
  double convergence() const;
  // Every free variable's largest probability is >= threshold (reachable only for threshold <= 1 - 1/D').
  bool converged(double threshold) const;

  // theta += step * direction on allowed categories, then floor and renormalise. direction must have the shape
  // of theta; forbidden entries are ignored.
  void move(const Matrix& direction, double step);
  // Raises every allowed probability to theta_min and takes the excess proportionally from the mass above the
  // floor, so that the row sums to 1 and stays >= theta_min (the reference's projection), then divides by the
  // sum to remove rounding.
  void clamp_to_floor();

  // {"categories": [...], "allowed": [[bool...]...], "theta": [[double...]...]}; doubles round-trip exactly.
  json to_json() const;
  static CategoricalDistribution from_json(const json& j, const std::string& context);

  void check_sample(const Sample& c, const char* what) const;  // throws Error on wrong length or range

 private:
  std::vector<int> categories_;
  std::vector<std::vector<bool>> allowed_;
  std::vector<int> allowed_count_;
  int free_variables_ = 0;
  Matrix theta_;
};

}  // namespace nasc
