#include "search/feasible.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/error.h"

namespace nasc {

bool sample_feasible(const LatencyEstimator& latency, const std::vector<bool>& allowed, double max_ms,
                     std::mt19937_64& rng, Candidate& out) {
  const Space& space = latency.space();
  const int B = space.num_blocks(), K = space.num_ops();
  auto cheapest = [&](int b, int p) {
    double m = std::numeric_limits<double>::infinity();
    for (int op = 0; op < K; ++op) m = std::min(m, latency.block_ms(b, op, p));
    return m;
  };
  // The floor of split p: every block at its cheapest op on its side, plus the link at p.
  auto floor_of = [&](int p) {
    double t = latency.link_ms(p);
    for (int b = 0; b < B; ++b) t += cheapest(b, p);
    return t;
  };
  std::vector<int> splits;
  for (int p = 0; p <= B && p < int(allowed.size()); ++p)
    if (allowed[p] && floor_of(p) <= max_ms) splits.push_back(p);
  if (splits.empty()) return false;
  const int p = splits[std::uniform_int_distribution<size_t>(0, splits.size() - 1)(rng)];
  // Stem and head have one cost whatever the op; layer l is block l + 1.
  double spent = latency.link_ms(p) + latency.block_ms(0, 0, p) + latency.block_ms(B - 1, 0, p);
  double rest = 0;  // cheapest cost of the layers not yet chosen
  for (int b = 1; b < B - 1; ++b) rest += cheapest(b, p);
  out.arch.assign(space.num_layers(), 0);
  out.split = p;
  // Layers in a random order: taken front to back, the first layers spend the budget and the last ones are left
  // with `skip`, a bias towards networks that do their work early that a uniform sample of the feasible set has not.
  std::vector<int> order(size_t(B - 2));
  std::iota(order.begin(), order.end(), 1);
  std::shuffle(order.begin(), order.end(), rng);
  for (int b : order) {
    rest -= cheapest(b, p);
    std::vector<int> ok;
    for (int op = 0; op < K; ++op)
      if (spent + latency.block_ms(b, op, p) + rest <= max_ms) ok.push_back(op);
    // The cheapest op always fits, as the split's floor did; rounding alone could empty the list.
    if (ok.empty())
      for (int op = 0; op < K; ++op)
        if (latency.block_ms(b, op, p) == cheapest(b, p)) ok.push_back(op);
    const int op = ok[std::uniform_int_distribution<size_t>(0, ok.size() - 1)(rng)];
    out.arch[b - 1] = op;
    spent += latency.block_ms(b, op, p);
  }
  return true;
}

bool most_likely_feasible(const LatencyEstimator& latency, const Matrix& theta,
                          const std::vector<bool>& allowed, double max_ms, Candidate& out, double min_ms) {
  const Space& space = latency.space();
  const int B = space.num_blocks(), L = space.num_layers(), K = space.num_ops();
  if (int(theta.size()) != L + 1) fail("theta has ", theta.size(), " rows, expected ", L + 1, " (layers and split)");
  if (!(max_ms > 0) || !std::isfinite(max_ms)) return false;
  const double grid = max_ms / kLatencyGrid;
  auto log_p = [](double p) { return p > 0 ? std::log(p) : -std::numeric_limits<double>::infinity(); };
  const double none = -std::numeric_limits<double>::infinity();
  double best_score = none;
  // value[l][j]: the best log-probability of ops for layers < l costing j grid steps; pick: the op it took.
  std::vector<std::vector<double>> value(size_t(L + 1));
  std::vector<std::vector<int>> pick(static_cast<size_t>(L));
  for (int p = 0; p <= B && p < int(allowed.size()); ++p) {
    if (!allowed[p] || !(theta[size_t(L)][size_t(p)] > 0)) continue;
    // Stem and head (blocks 0 and B-1) cost the same whatever the ops; layer l is block l + 1.
    const double budget = max_ms - latency.link_ms(p) - latency.block_ms(0, 0, p) - latency.block_ms(B - 1, 0, p);
    if (budget < 0) continue;
    const int steps = int(std::min<double>(std::floor(budget / grid), kLatencyGrid));
    // Each layer's cost is rounded up, so j steps cost more than (j - L) steps in truth: that bounds from below.
    const double fixed = max_ms - budget;
    const int lowest = min_ms > fixed ? int(std::ceil((min_ms - fixed) / grid)) + L : 0;
    if (lowest > steps) continue;
    value[0].assign(size_t(steps + 1), none);
    value[0][0] = 0.0;
    for (int l = 0; l < L; ++l) {
      value[size_t(l + 1)].assign(size_t(steps + 1), none);
      pick[size_t(l)].assign(size_t(steps + 1), -1);
      for (int op = 0; op < K; ++op) {
        const double lp = log_p(theta[size_t(l)][size_t(op)]);
        const double c = std::ceil(latency.block_ms(l + 1, op, p) / grid);
        if (lp == none || c > steps) continue;
        for (int j = int(c); j <= steps; ++j) {
          const double v = value[size_t(l)][size_t(j - int(c))] + lp;
          if (v > value[size_t(l + 1)][size_t(j)]) value[size_t(l + 1)][size_t(j)] = v, pick[size_t(l)][size_t(j)] = op;
        }
      }
    }
    const auto& last = value[size_t(L)];
    const int end = int(std::max_element(last.begin() + lowest, last.end()) - last.begin());
    const double score = last[size_t(end)] + log_p(theta[size_t(L)][size_t(p)]);
    if (!(score > best_score)) continue;
    Candidate c;
    c.split = p;
    c.arch.assign(size_t(L), 0);
    for (int l = L - 1, j = end; l >= 0; --l) {
      c.arch[size_t(l)] = pick[size_t(l)][size_t(j)];
      j -= int(std::ceil(latency.block_ms(l + 1, c.arch[size_t(l)], p) / grid));
    }
    const double ms = latency.total_ms(c.arch, c.split);
    if (ms > max_ms || ms < min_ms) continue;  // the rounding makes this unreachable; kept as a guard
    best_score = score;
    out = c;
  }
  return best_score > none;
}

void write_search_result(const std::string& dir, const json& result) {
  std::string csv = SearchEpoch::csv_header() + "\n";
  for (auto& e : result.at("history")) csv += SearchEpoch::from_json(e).csv_row() + "\n";
  write_text_atomic((std::filesystem::path(dir) / "search.csv").string(), csv);
  write_json_atomic((std::filesystem::path(dir) / "search.json").string(), result);
}

Matrix theta_meeting_threshold(const LatencyEstimator& latency, const CategoricalDistribution& start, double max_ms,
                               double fraction, uint64_t seed) {
  const int L = latency.space().num_layers(), D = start.num_variables();
  if (D != L + 1) fail("theta_meeting_threshold: expected ", L + 1, " variables (ops, split), got ", D);
  auto total = [&](const Sample& c) { return latency.total_ms(Arch(c.begin(), c.begin() + L), c.back()); };
  // m_dk / max_ms under `around`: the mean over 64 of its samples with c_d forced to k.
  auto price = [&](const CategoricalDistribution& around) {
    std::mt19937_64 rng(seed);
    std::vector<Sample> probes(64);
    for (auto& c : probes) c = around.sample(rng);
    Matrix cost(static_cast<size_t>(D));
    for (int d = 0; d < D; ++d) {
      cost[d].assign(start.categories()[d], 0.0);
      for (int k = 0; k < start.categories()[d]; ++k) {
        if (!start.allowed(d, k)) continue;
        for (Sample c : probes) {
          c[d] = k;
          cost[d][k] += total(c) / double(probes.size()) / max_ms;
        }
      }
    }
    return cost;
  };
  auto tilted = [&](const Matrix& cost, double beta) {
    CategoricalDistribution dist = start;
    Matrix theta(static_cast<size_t>(D));
    for (int d = 0; d < D; ++d) {
      const auto& row = cost[d];
      double lo = std::numeric_limits<double>::infinity(), sum = 0;
      for (int k = 0; k < int(row.size()); ++k)
        if (start.allowed(d, k)) lo = std::min(lo, row[k]);
      theta[d].assign(row.size(), 0.0);
      for (int k = 0; k < int(row.size()); ++k)
        if (start.allowed(d, k)) sum += theta[d][k] = std::exp(-beta * (row[k] - lo));
      for (double& t : theta[d]) t /= sum;
    }
    dist.set_theta(theta);
    dist.clamp_to_floor();
    return dist;
  };
  auto share = [&](const CategoricalDistribution& dist) {
    std::mt19937_64 r(seed ^ 0x7417ULL);  // the same draws for every beta: a deterministic, smooth estimate
    int met = 0;
    for (int i = 0; i < 512; ++i) met += total(dist.sample(r)) <= max_ms;
    return met / 512.0;
  };
  if (share(start) >= fraction) return start.theta();
  // Prices taken under `start` treat the choices as independent, and the split is not: with heavy ops the
  // cheapest cut ships the stem's output to a fast server, with light ones it is none, so tilting both rows by
  // those prices can end far from T (cheap ops, early cut). When no beta reaches the target, the choices are
  // priced again under the most tilted distribution so far, a few rounds; the best share found is the fallback.
  constexpr double kMaxBeta = 1e4;
  CategoricalDistribution around = start, best = start;
  double best_share = share(start);
  for (int round = 0; round < 6; ++round) {
    const Matrix cost = price(around);
    double lo = 0, hi = 1, at_hi;
    while ((at_hi = share(tilted(cost, hi))) < fraction && hi < kMaxBeta) lo = hi, hi *= 2;
    if (at_hi >= fraction) {
      for (int it = 0; it < 30; ++it) {
        const double mid = 0.5 * (lo + hi);
        (share(tilted(cost, mid)) < fraction ? lo : hi) = mid;
      }
      return tilted(cost, hi).theta();
    }
    around = tilted(cost, hi);
    if (at_hi > best_share) best_share = at_hi, best = around;
  }
  return best.theta();
}

}  // namespace nasc
