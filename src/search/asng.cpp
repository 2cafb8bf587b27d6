#include "search/asng.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace nasc {

AdaptiveSNG::AdaptiveSNG(CategoricalDistribution dist, AsngConfig cfg) : dist_(std::move(dist)), cfg_(cfg) {
  if (!(cfg_.alpha > 0)) fail("ASNG: alpha = ", cfg_.alpha, ", expected > 0");
  if (!(cfg_.delta_init > 0)) fail("ASNG: delta_init = ", cfg_.delta_init, ", expected > 0");
  if (!(cfg_.delta_max > 0)) fail("ASNG: delta_max = ", cfg_.delta_max, ", expected > 0");
  if (dist_.num_parameters() == 0) fail("ASNG: every variable is fixed, expected at least one with a choice");
  for (int d = 0; d < dist_.num_variables(); ++d)
    if (dist_.num_allowed(d) > 1 && dist_.num_allowed(d) * dist_.theta_min(d) >= 1.0)
      fail("ASNG: ", dist_.num_free_variables(), " free variable(s) with ", dist_.num_allowed(d),
           " categories leave no room above the probability floor 1/(D(K-1)); expected D(K-1) > K");
  s_.assign(size_t(dist_.num_parameters()), 0.0);
}

// Kept whole: the steps of the ASNG update (gradient, Fisher-normalised step, accumulation, step-size
// adaptation) share their intermediate vectors, and the update reads best as the one algorithm it is.
bool AdaptiveSNG::step(const std::vector<Sample>& samples, const std::vector<double>& utilities) {
  if (samples.size() != utilities.size())
    fail("ASNG step: ", samples.size(), " samples but ", utilities.size(), " utilities, expected equal counts");
  for (const Sample& c : samples) dist_.check_sample(c, "ASNG sample");
  for (size_t i = 0; i < samples.size(); ++i)
    for (int d = 0; d < dist_.num_variables(); ++d)
      if (!dist_.allowed(d, samples[i][d]))
        fail("ASNG step: sample ", i, " uses forbidden category ", samples[i][d], " of variable ", d);
  ++steps_;

  const double delta = this->step_size();
  const double beta = std::min(1.0, delta / std::sqrt(double(dist_.num_parameters())));
  const Matrix& theta = dist_.theta();

  double u_abs = 0;
  for (double u : utilities) u_abs += std::abs(u);
  if (u_abs == 0) return false;

  Matrix g(theta.size());
  double g_max = 0;
  for (size_t d = 0; d < theta.size(); ++d) {
    g[d].assign(theta[d].size(), 0.0);
    for (size_t i = 0; i < samples.size(); ++i)
      for (size_t k = 0; k < theta[d].size(); ++k)
        if (dist_.allowed(int(d), int(k)))
          g[d][k] += utilities[i] * ((samples[i][d] == int(k) ? 1.0 : 0.0) - theta[d][k]);
    for (double v : g[d]) g_max = std::max(g_max, std::abs(v));
  }
  if (g_max <= 1e-12 * u_abs) return false;

  std::vector<double> sl;
  sl.reserve(s_.size());
  for (size_t d = 0; d < theta.size(); ++d) {
    std::vector<size_t> ks;
    for (size_t k = 0; k < theta[d].size(); ++k)
      if (dist_.allowed(int(d), int(k))) ks.push_back(k);
    if (ks.size() < 2) continue;
    const double th_last = theta[d][ks.back()];
    double g_sum = 0;
    for (size_t j = 0; j + 1 < ks.size(); ++j) g_sum += g[d][ks[j]];
    for (size_t j = 0; j + 1 < ks.size(); ++j) {
      const double th = theta[d][ks[j]];
      sl.push_back(g[d][ks[j]] / std::sqrt(th) + std::sqrt(th) * g_sum / (th_last + std::sqrt(th_last)));
    }
  }
  double norm = 0;
  for (double v : sl) norm += v * v;
  norm = std::sqrt(norm);

  eps_ = delta / norm;
  dist_.move(g, eps_);

  const double keep = 1.0 - beta, add = std::sqrt(beta * (2.0 - beta));
  double s2 = 0;
  for (size_t n = 0; n < s_.size(); ++n) {
    s_[n] = keep * s_[n] + add * sl[n] / norm;
    s2 += s_[n] * s_[n];
  }
  gamma_ = keep * keep * gamma_ + beta * (2.0 - beta);
  Delta_ = std::min(cfg_.delta_max, Delta_ * std::exp(beta * (gamma_ - s2 / cfg_.alpha)));
  return true;
}

json AdaptiveSNG::to_json() const {
  json delta_max = std::isinf(cfg_.delta_max) ? json(nullptr) : json(cfg_.delta_max);
  return json{{"config", {{"alpha", cfg_.alpha}, {"delta_init", cfg_.delta_init}, {"delta_max", delta_max}}},
              {"distribution", dist_.to_json()},
              {"Delta", Delta_},
              {"gamma", gamma_},
              {"s", s_},
              {"steps", steps_},
              {"eps", eps_}};
}

AdaptiveSNG AdaptiveSNG::from_json(const json& j, const std::string& context) {
  if (!j.is_object() || !j.contains("config") || !j.contains("distribution"))
    fail(context, ": expected an ASNG state with fields 'config' and 'distribution'");
  const json& jc = j.at("config");
  const std::string cctx = context + " config";
  AsngConfig cfg;
  cfg.alpha = json_get<double>(jc, "alpha", cctx);
  cfg.delta_init = json_get<double>(jc, "delta_init", cctx);
  if (!jc.contains("delta_max") || !jc.at("delta_max").is_null())
    cfg.delta_max = json_get<double>(jc, "delta_max", cctx);
  try {
    AdaptiveSNG asng(CategoricalDistribution::from_json(j.at("distribution"), context + " distribution"), cfg);
    asng.Delta_ = json_get<double>(j, "Delta", context);
    asng.gamma_ = json_get<double>(j, "gamma", context);
    asng.steps_ = json_get<int64_t>(j, "steps", context);
    asng.eps_ = json_get<double>(j, "eps", context);
    auto s = json_get<std::vector<double>>(j, "s", context);
    if (s.size() != asng.s_.size())
      fail("'s' has ", s.size(), " entries, expected ", asng.s_.size(), " (free parameters)");
    asng.s_ = std::move(s);
    if (!(asng.Delta_ > 0)) fail("'Delta' = ", asng.Delta_, ", expected > 0");
    return asng;
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind(context, 0) == 0) throw;
    fail(context, ": ", what);
  }
}

}  // namespace nasc
