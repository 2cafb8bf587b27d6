#include "search/table_search.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>

#include "common/csv.h"
#include "common/error.h"
#include "common/stats.h"
#include "data/random.h"
#include "search/asng.h"
#include "search/feasible.h"
#include "search/ranking.h"
#include "search/budget.h"

namespace nasc {

namespace {

// The proxy of a TableProblem, counting what it scores.
class Proxy {
 public:
  Proxy(const TruthTable& truth, const LatencyEstimator& latency, const TableProblem& problem)
      : truth_(truth), latency_(latency), problem_(problem), sampler_(latency, allowed(), problem.max_latency_ms) {
    if (!(problem.max_latency_ms > 0)) fail("table search: threshold ", problem.max_latency_ms, " ms: expected > 0");
    if (!(problem.noise_sd >= 0) || !(problem.eval_noise_sd >= 0))
      fail("table search: noise ", problem.noise_sd, " and ", problem.eval_noise_sd, ": expected >= 0");
    auto best = truth.best_feasible(latency, problem.max_latency_ms, problem.min_device_blocks);
    if (!best) fail("table search: no network of ", truth.source(), " meets ", problem.max_latency_ms, " ms");
    best_ = best->accuracy;
  }
  bool feasible(const Candidate& c) const {
    return c.split >= problem_.min_device_blocks && latency_.total_ms(c.arch, c.split) <= problem_.max_latency_ms;
  }
  double true_acc(const Arch& a) const {
    const std::optional<double> acc = truth_.accuracy(a);
    if (!acc) fail("table search: ", truth_.source(), " lacks architecture ", latency_.space().arch_digits(a));
    return *acc;
  }
  double score(const Arch& a) {
    ++evaluations;
    const double fresh = problem_.eval_noise_sd > 0 ? problem_.eval_noise_sd * normal_(eval_rng_) : 0.0;
    return true_acc(a) + problem_.noise_sd * noise(a) + fresh;
  }
  double noise(const Arch& a) const {
    return problem_.noise_sd == 0 ? 0.0 : proxy_noise(latency_.space(), a, problem_.noise_seed);
  }
  TableSearchResult result(const Candidate& answer) const {
    TableSearchResult r;
    r.answer = answer;
    r.true_acc = true_acc(answer.arch);
    r.regret = best_ - r.true_acc;
    r.evaluations = evaluations;
    return r;
  }
  std::vector<bool> allowed() const {
    std::vector<bool> a(size_t(latency_.space().num_blocks() + 1), false);
    for (int p = std::max(0, problem_.min_device_blocks); p <= latency_.space().num_blocks(); ++p) a[size_t(p)] = true;
    return a;
  }
  // A feasible sample, uniform (theta null) or of theta within the feasible set.
  Candidate random_feasible(std::mt19937_64& rng, const Matrix* theta = nullptr) const {
    Candidate c;
    if (!sampler_.sample(rng, c, theta)) fail("table search: no allowed split meets ", problem_.max_latency_ms, " ms");
    return c;
  }
  int64_t evaluations = 0;

 private:
  const TruthTable& truth_;
  const LatencyEstimator& latency_;
  const TableProblem& problem_;
  FeasibleSampler sampler_;
  double best_ = 0;
  std::mt19937_64 eval_rng_{mix_seed(problem_.noise_seed, 0xE7A1ULL)};
  std::normal_distribution<double> normal_;
};

void check_budget(int64_t evaluations) {
  if (evaluations < 1) fail("table search: ", evaluations, " evaluations: expected at least 1");
}

}  // namespace

// Box-Muller on two uniforms hashed from the architecture and the seed: the same value every time it is asked.
double proxy_noise(const Space& space, const Arch& a, uint64_t noise_seed) {
  uint64_t s = mix_seed(noise_seed, fnv1a(space.arch_digits(a)));
  const double u1 = (double(splitmix64(s) >> 11) + 0.5) * 0x1.0p-53, u2 = double(splitmix64(s) >> 11) * 0x1.0p-53;
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
}

TableAsngOptions TableAsngOptions::parse(const std::string& name) {
  const char* expected = "expected asng followed by +tie, +start, +fs, +best, +bestsplit, +softW or +rewardW";
  if (name.rfind("asng", 0) != 0) fail("table ASNG variant '", name, "': ", expected);
  TableAsngOptions o;
  auto weight = [&](const std::string& flag, size_t prefix) {
    const std::optional<double> v = parse_number(flag.substr(prefix));
    if (!v || !(*v > 0))
      fail("table ASNG variant '", name, "': '", flag, "' needs a weight > 0 after ", flag.substr(0, prefix));
    return *v;
  };
  size_t at = 4;
  if (name.compare(at, 2, "-l") == 0) {  // name() writes a lambda other than 2 as asng-lN
    const size_t end = std::min(name.find('+', at), name.size());
    const std::optional<double> l = parse_number(name.substr(at + 2, end - at - 2));
    if (!l || *l != std::floor(*l) || *l < 2 || *l > 64)
      fail("table ASNG variant '", name, "': lambda '", name.substr(at + 2, end - at - 2), "': expected 2..64");
    o.lambda = int(*l);
    at = end;
  }
  while (at < name.size()) {
    const size_t next = std::min(name.find('+', at + 1), name.size());
    const std::string flag = name.substr(at, next - at);
    if (flag == "+tie") o.tie_infeasible = true;
    else if (flag == "+start") o.start_at_threshold = true;
    else if (flag == "+fs") o.feasible_sampling = true;
    else if (flag == "+best") o.best_seen = true;
    else if (flag == "+bestsplit") o.best_split = true;
    else if (flag.rfind("+soft", 0) == 0) o.soft_constraint = weight(flag, 5);
    else if (flag.rfind("+reward", 0) == 0) o.budget_reward = weight(flag, 7);
    else fail("table ASNG variant '", name, "': unknown '", flag, "', ", expected);
    at = next;
  }
  return o;
}

std::string TableAsngOptions::name() const {
  std::string n = "asng";
  if (lambda != 2) n += cat("-l", lambda);
  if (tie_infeasible) n += "+tie";
  if (start_at_threshold) n += "+start";
  if (feasible_sampling) n += "+fs";
  if (best_split) n += "+bestsplit";
  if (soft_constraint > 0) n += cat("+soft", soft_constraint);
  if (budget_reward > 0) n += cat("+reward", budget_reward);
  if (best_seen) n += "+best";
  return n;
}

TableSearchResult table_asng(const TruthTable& truth, const LatencyEstimator& latency, const TableProblem& problem,
                             int64_t evaluations, const TableAsngOptions& opt, uint64_t seed) {
  check_budget(evaluations);
  if (opt.lambda < 2) fail("table search: lambda ", opt.lambda, ": expected at least 2");
  Proxy proxy(truth, latency, problem);
  const int L = latency.space().num_layers();
  AsngConfig cfg;
  cfg.delta_init = opt.delta_init;
  const int B = latency.space().num_blocks();
  // With best_split the split variable holds one value (the deepest allowed), so theta spends nothing on it.
  std::vector<bool> sampled = proxy.allowed();
  if (opt.best_split)
    for (size_t p = 0; p + 1 < sampled.size(); ++p) sampled[p] = false;
  CategoricalDistribution start = make_distribution(latency.space(), sampled);
  const double largest_ms = std::max(1e-9, largest_network_ms(latency, B));
  if (opt.start_at_threshold) start.set_theta(theta_meeting_threshold(latency, start, problem.max_latency_ms, 0.5, seed));
  AdaptiveSNG asng(start, cfg);
  std::mt19937_64 rng(seed);
  Candidate best_seen;
  double best_score = -std::numeric_limits<double>::infinity();
  // Infeasible samples cost no evaluation; the cap on draws ends a search whose theta left the feasible region.
  for (int64_t draws = 0; proxy.evaluations < evaluations && draws < 1000 * evaluations &&
                          !asng.converged(SearchOptions{}.convergence);
       draws += opt.lambda) {
    std::vector<Sample> samples;
    std::vector<double> losses, violations;
    for (int i = 0; i < opt.lambda; ++i) {
      Candidate c;
      if (opt.feasible_sampling) {
        c = proxy.random_feasible(rng, &asng.distribution().theta());
      } else {
        const Sample s = asng.sample(rng);
        c = Candidate{Arch(s.begin(), s.begin() + L), s.back()};
        if (opt.best_split) c.split = latency.best_split(c.arch, problem.min_device_blocks).split;
      }
      const double ms = latency.total_ms(c.arch, c.split);
      const double v = latency_violation(ms, problem.max_latency_ms);
      violations.push_back(opt.tie_infeasible && v > 0 ? 1.0 : v);
      // The soft constraint ranks infeasible samples by their score too, so they are scored (and counted).
      const bool scored = v == 0 || opt.soft_constraint > 0;
      const double score = scored ? proxy.score(c.arch) : 0.0;
      if (v == 0 && score > best_score) best_score = score, best_seen = c;
      const double reward = opt.budget_reward > 0 ? opt.budget_reward * latency.total_ms(c.arch, B) / largest_ms : 0.0;
      losses.push_back(1 - score / 100 - reward);
      Sample s = c.arch;
      s.push_back(opt.best_split ? start.mode().back() : c.split);
      samples.push_back(std::move(s));
    }
    asng.step(samples, opt.soft_constraint > 0
                           ? rank_utility_penalised(losses, violations, problem.max_latency_ms, opt.soft_constraint)
                           : rank_utility(losses, violations));
  }
  if (opt.best_seen && std::isfinite(best_score)) return proxy.result(best_seen);
  const Sample m = asng.mode();
  Candidate answer{Arch(m.begin(), m.begin() + L), m.back()};
  Matrix theta = asng.distribution().theta();
  if (opt.best_split) {  // theta holds no split: the mode runs at its fastest, a repair may use any allowed split
    answer.split = latency.best_split(answer.arch, problem.min_device_blocks).split;
    const std::vector<bool> allowed = proxy.allowed();
    for (size_t p = 0; p < allowed.size(); ++p) theta.back()[p] = allowed[p] ? 1.0 : 0.0;
  }
  if (!proxy.feasible(answer) &&
      !most_likely_feasible(latency, theta, proxy.allowed(), problem.max_latency_ms, answer))
    answer = proxy.random_feasible(rng);  // unreachable while best_feasible found one; kept as a guard
  return proxy.result(answer);
}

TableSearchResult table_random(const TruthTable& truth, const LatencyEstimator& latency, const TableProblem& problem,
                               int64_t evaluations, uint64_t seed) {
  check_budget(evaluations);
  Proxy proxy(truth, latency, problem);
  std::mt19937_64 rng(seed);
  Candidate best;
  double best_score = -std::numeric_limits<double>::infinity();
  while (proxy.evaluations < evaluations) {
    Candidate c = proxy.random_feasible(rng);
    const double s = proxy.score(c.arch);
    if (s > best_score) best_score = s, best = c;
  }
  return proxy.result(best);
}

TableSearchResult table_evolution(const TruthTable& truth, const LatencyEstimator& latency, const TableProblem& problem,
                                  int64_t evaluations, int population, int tournament, uint64_t seed) {
  check_budget(evaluations);
  if (population < 2 || tournament < 1 || tournament > population)
    fail("table search: population ", population, ", tournament ", tournament,
         ": expected population >= 2 and 1 <= tournament <= population");
  Proxy proxy(truth, latency, problem);
  const Space& space = latency.space();
  std::mt19937_64 rng(seed);
  struct Member {
    Candidate c;
    double score;
  };
  std::deque<Member> pop;
  Member best{{}, -std::numeric_limits<double>::infinity()};
  auto add = [&](const Candidate& c) {
    pop.push_back({c, proxy.score(c.arch)});
    if (pop.back().score > best.score) best = pop.back();
  };
  while (int(pop.size()) < population && proxy.evaluations < evaluations) add(proxy.random_feasible(rng));
  const std::vector<bool> allowed = proxy.allowed();
  while (proxy.evaluations < evaluations) {
    const Member* parent = nullptr;
    for (int t = 0; t < tournament; ++t) {
      const Member& m = pop[std::uniform_int_distribution<size_t>(0, pop.size() - 1)(rng)];
      if (!parent || m.score > parent->score) parent = &m;
    }
    Candidate child;
    bool found = false;
    for (int attempt = 0; attempt < 100 && !found; ++attempt) {
      child = parent->c;
      const int d = std::uniform_int_distribution<int>(0, space.num_layers())(rng);  // a layer's op, or the split
      if (d < space.num_layers()) {
        child.arch[size_t(d)] = std::uniform_int_distribution<int>(0, space.num_ops() - 2)(rng);
        if (child.arch[size_t(d)] >= parent->c.arch[size_t(d)]) ++child.arch[size_t(d)];  // a different op
      } else {
        std::vector<int> splits;
        for (int p = 0; p < int(allowed.size()); ++p)
          if (allowed[size_t(p)] && p != parent->c.split) splits.push_back(p);
        if (splits.empty()) continue;
        child.split = splits[std::uniform_int_distribution<size_t>(0, splits.size() - 1)(rng)];
      }
      found = proxy.feasible(child);
    }
    if (!found) child = proxy.random_feasible(rng);  // no feasible neighbour in 100 tries: a fresh member instead
    add(child);
    pop.pop_front();
  }
  return proxy.result(best.c);
}

double noise_for_tau(const TruthTable& truth, const LatencyEstimator& latency, const TableProblem& problem, double tau) {
  if (!(tau > 0 && tau <= 1)) fail("noise for Kendall tau ", tau, ": expected 0 < tau <= 1");
  if (tau >= 1) return 0;
  std::vector<Arch> feasible;
  std::vector<double> acc;
  for (const Arch& a : truth.archs())
    if (latency.best_split(a, problem.min_device_blocks).total_ms <= problem.max_latency_ms) {
      feasible.push_back(a);
      acc.push_back(*truth.accuracy(a));
    }
  if (feasible.size() < 2) fail("noise for Kendall tau: fewer than 2 table networks meet ", problem.max_latency_ms, " ms");
  std::vector<double> z;
  for (const Arch& a : feasible) z.push_back(proxy_noise(latency.space(), a, problem.noise_seed));
  auto tau_at = [&](double sd) {
    std::vector<double> noisy;
    for (size_t i = 0; i < feasible.size(); ++i) noisy.push_back(acc[i] + sd * z[i]);
    return kendall_tau(acc, noisy);
  };
  double lo = 0, hi = 1;
  while (tau_at(hi) > tau && hi < 1e4) hi *= 2;
  for (int i = 0; i < 40; ++i) {
    const double mid = 0.5 * (lo + hi);
    (tau_at(mid) > tau ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace nasc
