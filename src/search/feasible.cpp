#include "search/feasible.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/error.h"

namespace nasc {

namespace {

// One of `ok` uniformly (no weights), or with probability proportional to weights[k].
int pick(const std::vector<int>& ok, const std::vector<double>* weights, std::mt19937_64& rng) {
  if (!weights) return ok[std::uniform_int_distribution<size_t>(0, ok.size() - 1)(rng)];
  double sum = 0;
  for (int k : ok) sum += (*weights)[size_t(k)];
  double u = double(rng() >> 11) * 0x1.0p-53 * sum;
  for (int k : ok)
    if ((u -= (*weights)[size_t(k)]) < 0) return k;
  return ok.back();  // rounding
}

}  // namespace

FeasibleSampler::FeasibleSampler(const LatencyEstimator& latency, const std::vector<bool>& allowed, double max_ms)
    : latency_(latency), max_ms_(max_ms) {
  const Space& space = latency.space();
  const int B = space.num_blocks(), K = space.num_ops();
  cheapest_.assign(size_t(B + 1), std::vector<double>(size_t(B), std::numeric_limits<double>::infinity()));
  for (int p = 0; p <= B; ++p) {
    for (int b = 0; b < B; ++b)
      for (int op = 0; op < K; ++op) cheapest_[p][b] = std::min(cheapest_[p][b], latency.block_ms(b, op, p));
    // The floor of split p: every block at its cheapest op on its side, plus the link at p.
    double floor = latency.link_ms(p);
    for (double t : cheapest_[p]) floor += t;
    if (p < int(allowed.size()) && allowed[p] && floor <= max_ms) splits_.push_back(p);
  }
}

bool FeasibleSampler::sample(std::mt19937_64& rng, Candidate& out, const Matrix* theta) const {
  const Space& space = latency_.space();
  if (theta && int(theta->size()) != space.num_layers() + 1)
    fail("theta has ", theta->size(), " rows, expected ", space.num_layers() + 1, " (layers and split)");
  if (splits_.empty()) return false;
  auto row = [&](int d) { return theta ? &(*theta)[size_t(d)] : nullptr; };
  const int B = space.num_blocks(), K = space.num_ops();
  const int p = pick(splits_, row(space.num_layers()), rng);
  const std::vector<double>& cheapest = cheapest_[size_t(p)];
  // Stem and head have one cost whatever the op; layer l is block l + 1.
  double spent = latency_.link_ms(p) + latency_.block_ms(0, 0, p) + latency_.block_ms(B - 1, 0, p);
  double rest = 0;  // cheapest cost of the layers not yet chosen
  for (int b = 1; b < B - 1; ++b) rest += cheapest[size_t(b)];
  out.arch.assign(space.num_layers(), 0);
  out.split = p;
  // Layers in a random order: taken front to back, the first layers spend the budget and the last ones are left
  // with `skip`, a bias towards networks that do their work early that a uniform sample of the feasible set has not.
  std::vector<int> order(size_t(B - 2));
  std::iota(order.begin(), order.end(), 1);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<int> ok;
  for (int b : order) {
    rest -= cheapest[size_t(b)];
    ok.clear();
    for (int op = 0; op < K; ++op)
      if (spent + latency_.block_ms(b, op, p) + rest <= max_ms_) ok.push_back(op);
    // The cheapest op always fits, as the split's floor did; rounding alone could empty the list.
    if (ok.empty())
      for (int op = 0; op < K; ++op)
        if (latency_.block_ms(b, op, p) == cheapest[size_t(b)]) ok.push_back(op);
    const int op = pick(ok, row(b - 1), rng);
    out.arch[b - 1] = op;
    spent += latency_.block_ms(b, op, p);
  }
  return true;
}

bool sample_feasible(const LatencyEstimator& latency, const std::vector<bool>& allowed, double max_ms,
                     std::mt19937_64& rng, Candidate& out, const Matrix* theta) {
  return FeasibleSampler(latency, allowed, max_ms).sample(rng, out, theta);
}

namespace {

// The allowed candidate of highest score(layer, op, p) summed over layers plus split_score(p) that meets max_ms
// (and min_ms): per split a dynamic programme over layers on latencies rounded up to a grid of max_ms /
// kLatencyGrid. -inf scores exclude a choice. Returns false when nothing meets max_ms at that resolution.
template <typename LayerScore, typename SplitScore>
bool best_on_grid(const LatencyEstimator& latency, const std::vector<bool>& allowed, double max_ms, double min_ms,
                  LayerScore score, SplitScore split_score, Candidate& out) {
  const Space& space = latency.space();
  const int B = space.num_blocks(), L = space.num_layers(), K = space.num_ops();
  if (!(max_ms > 0) || !std::isfinite(max_ms)) return false;
  const double grid = max_ms / kLatencyGrid;
  const double none = -std::numeric_limits<double>::infinity();
  double best_score = none;
  // value[l][j]: the best score of ops for layers < l costing j grid steps; pick: the op it took.
  std::vector<std::vector<double>> value(size_t(L + 1));
  std::vector<std::vector<int>> pick(static_cast<size_t>(L));
  for (int p = 0; p <= B && p < int(allowed.size()); ++p) {
    if (!allowed[p] || split_score(p) == none) continue;
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
        const double lp = score(l, op, p);
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
    const double total = last[size_t(end)] + split_score(p);
    if (!(total > best_score)) continue;
    Candidate c;
    c.split = p;
    c.arch.assign(size_t(L), 0);
    for (int l = L - 1, j = end; l >= 0; --l) {
      c.arch[size_t(l)] = pick[size_t(l)][size_t(j)];
      j -= int(std::ceil(latency.block_ms(l + 1, c.arch[size_t(l)], p) / grid));
    }
    const double ms = latency.total_ms(c.arch, c.split);
    if (ms > max_ms || ms < min_ms) continue;  // the rounding makes this unreachable; kept as a guard
    best_score = total;
    out = c;
  }
  return best_score > none;
}

double log_p(double p) { return p > 0 ? std::log(p) : -std::numeric_limits<double>::infinity(); }

// Number of architectures of the space, or kEnumerationLimit + 1 when it has more.
int64_t space_size(const Space& space) {
  int64_t n = 1;
  for (int l = 0; l < space.num_layers(); ++l)
    if ((n *= space.num_ops()) > kEnumerationLimit) return kEnumerationLimit + 1;
  return n;
}

// Every architecture at its latency-minimal allowed split; `better(candidate, its ms, best so far, its ms)`
// decides. Only for spaces of at most kEnumerationLimit architectures.
template <typename Better>
bool enumerate_feasible(const LatencyEstimator& latency, int min_device_blocks, double max_ms, Better better,
                        Candidate& out) {
  const Space& space = latency.space();
  const int L = space.num_layers(), K = space.num_ops();
  Arch a(size_t(L), 0);
  bool found = false;
  double best_ms = 0;
  while (true) {
    const LatencyBreakdown lat = latency.best_split(a, min_device_blocks);
    if (lat.total_ms <= max_ms && (!found || better(a, lat.total_ms, out.arch, best_ms))) {
      out.arch = a;
      out.split = lat.split;
      best_ms = lat.total_ms;
      found = true;
    }
    int l = L - 1;
    while (l >= 0 && ++a[size_t(l)] == K) a[size_t(l--)] = 0;
    if (l < 0) return found;
  }
}

}  // namespace

bool most_likely_feasible(const LatencyEstimator& latency, const Matrix& theta,
                          const std::vector<bool>& allowed, double max_ms, Candidate& out, double min_ms) {
  const int L = latency.space().num_layers();
  if (int(theta.size()) != L + 1) fail("theta has ", theta.size(), " rows, expected ", L + 1, " (layers and split)");
  return best_on_grid(
      latency, allowed, max_ms, min_ms, [&](int l, int op, int) { return log_p(theta[size_t(l)][size_t(op)]); },
      [&](int p) { return log_p(theta[size_t(L)][size_t(p)]); }, out);
}

bool largest_feasible(const LatencyEstimator& latency, int min_device_blocks, double max_ms, Candidate& out) {
  const Space& space = latency.space();
  if (space_size(space) > kEnumerationLimit)
    fail("largest-feasible enumerates the space, and ", space.name(), " has ", space.num_ops(), "^",
         space.num_layers(), " architectures: expected at most ", kEnumerationLimit,
         " (use max-flops-feasible, which has a dynamic programme)");
  return enumerate_feasible(
      latency, min_device_blocks, max_ms, [](const Arch&, double ms, const Arch&, double best) { return ms > best; },
      out);
}

bool max_macs_feasible(const LatencyEstimator& latency, int min_device_blocks, double max_ms, Candidate& out) {
  const Space& space = latency.space();
  if (space_size(space) <= kEnumerationLimit)
    return enumerate_feasible(
        latency, min_device_blocks, max_ms,
        [&](const Arch& a, double ms, const Arch& best, double best_ms) {
          const int64_t m = space.macs(a), bm = space.macs(best);
          return m > bm || (m == bm && ms < best_ms);
        },
        out);
  std::vector<bool> allowed(size_t(space.num_blocks() + 1), false);
  for (int p = std::max(0, min_device_blocks); p <= space.num_blocks(); ++p) allowed[size_t(p)] = true;
  return best_on_grid(
      latency, allowed, max_ms, 0.0, [&](int l, int op, int) { return double(space.block_macs(l + 1, op)); },
      [](int) { return 0.0; }, out);
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
