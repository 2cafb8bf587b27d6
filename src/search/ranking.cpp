#include "search/ranking.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "common/error.h"

namespace nasc {

double latency_violation(double latency, double t_max) { return std::max(0.0, latency - t_max); }

std::vector<double> rank_utility(const std::vector<double>& losses, const std::vector<double>& violations) {
  const size_t lam = losses.size();
  if (violations.size() != lam)
    fail("ranking: ", lam, " losses but ", violations.size(), " violations, expected one of each per sample");
  if (lam < 2) fail("ranking: ", lam, " samples, expected lambda >= 2");
  std::vector<std::pair<int, double>> key(lam);  // (infeasible?, loss or violation)
  for (size_t i = 0; i < lam; ++i) {
    if (std::isnan(losses[i])) fail("ranking: loss of sample ", i, " is NaN, expected a number");
    if (!(violations[i] >= 0)) fail("ranking: violation of sample ", i, " is ", violations[i], ", expected >= 0");
    key[i] = violations[i] > 0 ? std::make_pair(1, violations[i]) : std::make_pair(0, losses[i]);
  }
  std::vector<size_t> order(lam);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key[a] < key[b]; });

  const size_t mu = (lam + 3) / 4;
  std::vector<double> w(lam, 0.0);
  for (size_t r = 0; r < lam; ++r) w[r] = r < mu ? 1.0 : (r >= lam - mu ? -1.0 : 0.0);

  std::vector<double> u(lam);
  for (size_t start = 0; start < lam;) {
    size_t end = start + 1;
    while (end < lam && key[order[end]] == key[order[start]]) ++end;
    double mean = std::accumulate(w.begin() + start, w.begin() + end, 0.0) / double(end - start);
    for (size_t r = start; r < end; ++r) u[order[r]] = mean / double(lam);
    start = end;
  }
  return u;
}

std::vector<double> rank_utility(const std::vector<double>& losses) {
  return rank_utility(losses, std::vector<double>(losses.size(), 0.0));
}

std::vector<double> rank_utility_penalised(const std::vector<double>& losses, const std::vector<double>& violations,
                                           double t_max, double weight) {
  if (!(weight >= 0) || !(t_max > 0)) fail("penalised ranking: weight ", weight, " and T_max ", t_max, ", expected >= 0 and > 0");
  if (violations.size() != losses.size())
    fail("ranking: ", losses.size(), " losses but ", violations.size(), " violations, expected one of each per sample");
  std::vector<double> keys(losses);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!(violations[i] >= 0)) fail("ranking: violation of sample ", i, " is ", violations[i], ", expected >= 0");
    keys[i] += weight * violations[i] / t_max;
  }
  return rank_utility(keys);
}

}  // namespace nasc
