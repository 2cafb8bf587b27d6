// Adaptive stochastic natural gradient (ASNG) on a categorical distribution (ARCHITECTURE.md §4 step 4).
// Akimoto, Shirakawa, Yoshinari, Uchida, Saito, Nishida: "Adaptive Stochastic Natural Gradient Method for
// One-Shot Neural Architecture Search", ICML 2019; follows the reference AdaptiveSNG.update.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "search/categorical.h"

namespace nasc {

struct AsngConfig {
  double alpha = 1.5;       // signal-to-noise threshold of the Delta adaptation
  double delta_init = 1.0;  // step size at Delta = 1
  double delta_max = std::numeric_limits<double>::infinity();  // upper bound on Delta (JSON: null = none)
};

// One step, given samples c_1..c_lambda and their utilities u_i (see rank_utility), with N = sum_d (K'_d - 1)
// free parameters:
//   delta = delta_init / Delta,  beta = min(1, delta / sqrt(N))
//   g     = sum_i u_i (onehot(c_i) - theta)                  (on allowed categories)
//   s~    = sqrt(F) g, per variable with the last allowed category K as reference:
//           s~_k = g_k / sqrt(theta_k) + sqrt(theta_k) (sum_{j<K} g_j) / (theta_K + sqrt(theta_K)),  k < K
//           so that |s~|^2 = sum_k g_k^2 / theta_k, the Fisher norm of g
//   theta <- theta + (delta / |s~|) g, then floor and renormalise (CategoricalDistribution::clamp_to_floor)
//   s     <- (1 - beta) s + sqrt(beta (2 - beta)) s~ / |s~|
//   gamma <- (1 - beta)^2 gamma + beta (2 - beta)
//   Delta <- min(delta_max, Delta exp(beta (gamma - |s|^2 / alpha)))
// Deviations from the reference, both no-ops on its usual path: beta is capped at 1 (when Delta falls below
// delta_init / sqrt(N)), which keeps sqrt(beta (2 - beta)) real; instead of adding 1e-9 to |s~|, a step whose
// gradient vanishes (max |g| <= 1e-12 sum |u|, e.g. identical samples) is skipped whole, like an all-zero u.
class AdaptiveSNG {
 public:
  // Throws Error on alpha, delta_init or delta_max <= 0, or a distribution whose floor leaves no room to learn.
  explicit AdaptiveSNG(CategoricalDistribution dist, AsngConfig cfg = {});

  const CategoricalDistribution& distribution() const { return dist_; }
  const AsngConfig& config() const { return cfg_; }
  Sample sample(std::mt19937_64& rng) const { return dist_.sample(rng); }
  Sample mode() const { return dist_.mode(); }
  bool converged(double threshold) const { return dist_.converged(threshold); }

  // Updates theta and the adaptation state; returns false when the step was skipped (all u zero or vanishing
  // gradient). Every call counts in steps(). Throws Error on mismatched sizes or out-of-range samples.
  bool step(const std::vector<Sample>& samples, const std::vector<double>& utilities);

  double step_size() const { return cfg_.delta_init / Delta_; }  // step size of the next update
  double Delta() const { return Delta_; }                      // the paper's Delta (inverse step scale)
  double gamma() const { return gamma_; }
  const std::vector<double>& s() const { return s_; }
  int64_t steps() const { return steps_; }
  double last_eps() const { return eps_; }  // delta / |s~| of the last applied step, 0 before any

  // Full state: config, distribution, Delta, gamma, s, steps, eps. Restores bit-exactly.
  json to_json() const;
  static AdaptiveSNG from_json(const json& j, const std::string& context);

 private:
  CategoricalDistribution dist_;
  AsngConfig cfg_;
  double Delta_ = 1.0;
  double gamma_ = 0.0;
  std::vector<double> s_;
  int64_t steps_ = 0;
  double eps_ = 0.0;
};

}  // namespace nasc
