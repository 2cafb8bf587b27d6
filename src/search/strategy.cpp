#include "search/strategy.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <set>

#include "common/error.h"
#include "common/json_io.h"
#include "search/feasible.h"

namespace nasc {

Strategy Strategy::parse(const std::string& text, const Space& space) {
  Strategy s;
  auto bad = [&](const std::string& why) {
    fail("strategy '", text, "': ", why,
         "; expected nasc, accuracy-only, fixed:OP (e.g. fixed:k3_e6), device-only, server-only, random:N, "
         "largest-feasible or max-flops-feasible");
  };
  if (text == "nasc") return s;
  if (text == "accuracy-only") s.kind = AccuracyOnly;
  else if (text == "device-only") s.kind = DeviceOnly;
  else if (text == "server-only") s.kind = ServerOnly;
  else if (text == "largest-feasible") s.kind = LargestFeasible;
  else if (text == "max-flops-feasible") s.kind = MaxFlopsFeasible;
  else if (text.rfind("fixed:", 0) == 0) {
    s.kind = Fixed;
    s.fixed_op = text.substr(6);
    if (space.op_index(s.fixed_op) < 0) bad("op '" + s.fixed_op + "' is not an op of space " + space.name());
  } else if (text == "random" || text.rfind("random:", 0) == 0) {
    s.kind = Random;
    if (text != "random") {
      try {
        size_t used = 0;
        s.samples = std::stoi(text.substr(7), &used);
        if (used != text.size() - 7) bad("N is not a whole number");
      } catch (const std::logic_error&) {
        bad("N is not a whole number");
      }
      if (s.samples < 1 || s.samples > 100000) bad("N must be 1..100000");
    }
  } else {
    bad("unknown strategy");
  }
  return s;
}

std::string Strategy::name() const {
  switch (kind) {
    case Nasc: return "nasc";
    case AccuracyOnly: return "accuracy-only";
    case Fixed: return "fixed:" + fixed_op;
    case DeviceOnly: return "device-only";
    case ServerOnly: return "server-only";
    case Random: return "random:" + std::to_string(samples);
    case LargestFeasible: return "largest-feasible";
    case MaxFlopsFeasible: return "max-flops-feasible";
  }
  return "?";
}

void check_threshold(const LatencyEstimator& latency, double max_latency_ms, int min_device_blocks) {
  if (!(max_latency_ms > 0)) fail("--max-latency ", max_latency_ms, " ms: expected a positive number of milliseconds");
  auto floor = latency.oracle(min_device_blocks);
  if (max_latency_ms < floor.latency.total_ms)
    fail("--max-latency ", max_latency_ms, " ms is below the minimum achievable latency of ", floor.latency.total_ms,
         " ms on this hardware and link (architecture ", latency.space().format_arch(floor.arch), ", split ",
         floor.latency.split, "); raise the threshold, the bandwidth, or lower --min-device-blocks");
}

namespace {

std::vector<bool> splits_from(const Space& space, int lo, int hi) {
  std::vector<bool> allowed(space.num_blocks() + 1, false);
  for (int p = lo; p <= hi; ++p) allowed[p] = true;
  return allowed;
}

}  // namespace

namespace {

// What a strategy found: the candidate and, for supernet strategies, how (fields merged into search.json).
struct Outcome {
  Candidate chosen;
  json supernet_val_acc = nullptr, theta = nullptr, history = json::array();
  bool converged = false;
  double search_seconds = 0;
  json fields = json::object();  // strategy-specific: selection, mode, supernet_val_loss, random_feasible_scored
};

struct Context {
  const SearchRequest& req;
  const Space& space;
  const LatencyEstimator& latency;
  const ImageSet& train_set;
  torch::Device device;
  const std::string& out_dir;
  bool resume;
};

// One interface for every strategy; each is a few lines over the supernet search.
class SearchStrategy {
 public:
  virtual ~SearchStrategy() = default;
  virtual Outcome find(const Context& ctx) const = 0;
};

// The split values a strategy's supernet samples, and whether its distribution adapts.
SearchProblem problem_for(const Context& ctx) {
  const int B = ctx.space.num_blocks(), floor = ctx.req.min_device_blocks;
  SearchProblem prob;
  const Strategy::Kind kind = ctx.req.strategy.kind;
  prob.max_latency_ms = kind == Strategy::AccuracyOnly ? std::numeric_limits<double>::infinity() : ctx.req.max_latency_ms;
  switch (kind) {
    case Strategy::AccuracyOnly:  // no cut while training; the split is chosen afterwards
    case Strategy::DeviceOnly: prob.allowed_splits = splits_from(ctx.space, B, B); break;
    case Strategy::ServerOnly: prob.allowed_splits = splits_from(ctx.space, floor, floor); break;
    default: prob.allowed_splits = splits_from(ctx.space, floor, B);
  }
  prob.adapt = kind != Strategy::Random;
  return prob;
}

void record_search(const SearchState& st, Outcome& out) {
  for (auto& e : st.history) out.history.push_back(e.to_json());
  out.converged = st.converged;
  out.search_seconds = st.seconds;
}

void record_accuracy(SupernetSearch& search, const Context& ctx, Outcome& out) {
  auto [loss, acc] = search.validate(out.chosen, ctx.req.options.eval_limit);
  out.supernet_val_acc = acc;
  out.fields["supernet_val_loss"] = loss;
}

// fixed:OP, Neurosurgeon's setting: one op everywhere, only the split is chosen (no training).
class FixedOps : public SearchStrategy {
 public:
  Outcome find(const Context& ctx) const override {
    Outcome out;
    out.chosen.arch = Arch(ctx.space.num_layers(), ctx.space.op_index(ctx.req.strategy.fixed_op));
    out.chosen.split = ctx.latency.best_split(out.chosen.arch, ctx.req.min_device_blocks).split;
    return out;
  }
};

// largest-feasible and max-flops-feasible: what a user gets for free from the latency tables alone (no training):
// the slowest network that meets the threshold, or the one with the most multiply-accumulates, at its best split.
class FreeAnswer : public SearchStrategy {
 public:
  Outcome find(const Context& ctx) const override {
    Outcome out;
    const bool largest = ctx.req.strategy.kind == Strategy::LargestFeasible;
    const int floor = ctx.req.min_device_blocks;
    const double t = ctx.req.max_latency_ms;
    const bool found = largest ? largest_feasible(ctx.latency, floor, t, out.chosen)
                               : max_macs_feasible(ctx.latency, floor, t, out.chosen);
    if (!found) fail(ctx.req.strategy.name(), ": no architecture meets ", ctx.req.max_latency_ms, " ms");
    out.fields["selection"] = largest ? "slowest architecture that meets the threshold, at its best split"
                                      : "most multiply-accumulates that meet the threshold";
    out.fields["macs"] = ctx.space.macs(out.chosen.arch);
    return out;
  }
};

// Strategies that train a supernet first: the search runs, choose() picks the candidate, its accuracy is recorded.
class SupernetStrategy : public SearchStrategy {
 public:
  Outcome find(const Context& ctx) const final {
    Outcome out;
    SearchProblem prob = problem_for(ctx);
    SupernetSearch search(ctx.space, ctx.latency, prob, ctx.req.options, ctx.device);
    record_search(search.run(ctx.train_set, ctx.out_dir, ctx.resume), out);
    choose(ctx, prob, search, out);
    record_accuracy(search, ctx, out);
    return out;
  }

 protected:
  virtual void choose(const Context& ctx, const SearchProblem& prob, SupernetSearch& search, Outcome& out) const = 0;
};

// nasc, accuracy-only, device-only, server-only: the mode of the learnt distribution.
class DistributionMode : public SupernetStrategy {
 protected:
  void choose(const Context& ctx, const SearchProblem& prob, SupernetSearch& search, Outcome& out) const override {
    out.chosen = search.mode();
    out.theta = search.asng().distribution().theta();
    const bool acc_only = ctx.req.strategy.kind == Strategy::AccuracyOnly;
    if (!acc_only) {
      // A search stopped before theta converged can have an infeasible mode; what it returns is then the most
      // probable candidate that meets the threshold, and search.json says so.
      out.fields["mode_feasible"] = search.feasible(out.chosen);
      out.fields["selection"] = "mode of theta";
      Candidate repaired;
      if (std::isfinite(ctx.req.max_latency_ms) && !search.feasible(out.chosen) &&
          most_likely_feasible(ctx.latency, search.asng().distribution().theta(), prob.allowed_splits, ctx.req.max_latency_ms,
                               repaired)) {
        out.fields["mode"] = {{"arch", ctx.space.format_arch(out.chosen.arch)}, {"split", out.chosen.split}};
        out.fields["selection"] = "most probable feasible configuration (the mode of theta misses the threshold)";
        out.chosen = repaired;
      }
    }
    if (!acc_only && ctx.req.options.fill_budget > 0) fill_budget(ctx, prob, search, out);
    if (ctx.req.options.rescore > 0) rescore(ctx, prob, search, out);
    if (acc_only) out.chosen.split = ctx.latency.best_split(out.chosen.arch, ctx.req.min_device_blocks).split;
  }

 private:
  // Below fill_budget x T, the answer gives way to the most probable configuration in [fill_budget x T, T].
  static void fill_budget(const Context& ctx, const SearchProblem& prob, SupernetSearch& search, Outcome& out) {
    const double t = ctx.req.max_latency_ms, lo = ctx.req.options.fill_budget * t;
    const double ms = ctx.latency.total_ms(out.chosen.arch, out.chosen.split);
    if (!std::isfinite(t) || ms >= lo) return;
    Candidate filled;
    if (!most_likely_feasible(ctx.latency, search.asng().distribution().theta(), prob.allowed_splits, t, filled, lo)) return;
    out.fields["unfilled"] = {{"arch", ctx.space.format_arch(out.chosen.arch)}, {"split", out.chosen.split},
                              {"total_ms", ms}};
    out.fields["selection"] = cat("most probable configuration using ", ctx.req.options.fill_budget,
                                  " to 1 of the threshold (", out.fields["selection"].get<std::string>(), " was faster)");
    out.chosen = filled;
  }

  // The answer so far and up to K distinct samples of theta that meet the threshold, each scored on eval_limit
  // held-out images; the most accurate one is the answer. A mode is one configuration; its neighbours under theta
  // cost a forward pass each to compare.
  static void rescore(const Context& ctx, const SearchProblem& prob, SupernetSearch& search, Outcome& out) {
    const int k = ctx.req.options.rescore;
    std::mt19937_64 rng(ctx.req.options.seed + 0x5C0AEULL);
    std::vector<Candidate> candidates{out.chosen};
    std::set<std::pair<Arch, int>> seen{{out.chosen.arch, out.chosen.split}};
    for (int draw = 0; draw < 20 * k && int(candidates.size()) <= k; ++draw) {
      const Candidate c = search.sample(rng);
      const bool fills = ctx.latency.total_ms(c.arch, c.split) >= ctx.req.options.fill_budget * prob.max_latency_ms;
      if ((std::isfinite(prob.max_latency_ms) && (!search.feasible(c) || !fills)) ||
          !seen.insert({c.arch, c.split}).second)
        continue;
      candidates.push_back(c);
    }
    json scored = json::array();
    double best = -1;
    for (const Candidate& c : candidates) {
      const double acc = search.validate(c, ctx.req.options.eval_limit).second;
      scored.push_back({{"arch", ctx.space.format_arch(c.arch)}, {"split", c.split}, {"supernet_val_acc", acc}});
      if (acc > best) best = acc, out.chosen = c;
    }
    out.fields["rescored"] = scored;
    out.fields["selection"] = cat("most accurate of ", candidates.size(), " rescored (",
                                  out.fields["selection"].is_string() ? out.fields["selection"].get<std::string>()
                                                                       : std::string("mode of theta"),
                                  ", and samples of theta that meet the threshold",
                                  ctx.req.options.fill_budget > 0 ? cat(" and use ", ctx.req.options.fill_budget, " of it")
                                                                  : std::string(), ")");
  }
};

// random:N: a supernet trained with uniform sampling, then N feasible candidates scored on the same images.
class RandomSampling : public SupernetStrategy {
 protected:
  void choose(const Context& ctx, const SearchProblem& prob, SupernetSearch& search, Outcome& out) const override {
    std::mt19937_64 rng(ctx.req.options.seed + 0x7A11DULL);
    double best_acc = -1;
    int found = 0;
    // The same held-out images as NASC's final scoring (eval_limit, 0 = all), so that both choose equally well
    // informed (random search used at most 1,000 before; its committed results say so).
    const int64_t score_images = ctx.req.options.eval_limit;
    const FeasibleSampler sampler(ctx.latency, prob.allowed_splits, ctx.req.max_latency_ms);
    for (; found < ctx.req.strategy.samples; ++found) {
      Candidate c;
      if (!sampler.sample(rng, c))
        fail("random search: no allowed split can meet ", ctx.req.max_latency_ms, " ms");  // check_threshold rules this out
      double acc = search.validate(c, score_images).second;
      if (acc > best_acc) best_acc = acc, out.chosen = c;
    }
    out.fields["random_feasible_scored"] = found;
    out.fields["random_scored_images"] = search.validation_images(score_images);
  }
};

std::unique_ptr<SearchStrategy> make_strategy(const Strategy& s) {
  switch (s.kind) {
    case Strategy::Fixed: return std::make_unique<FixedOps>();
    case Strategy::Random: return std::make_unique<RandomSampling>();
    case Strategy::LargestFeasible:
    case Strategy::MaxFlopsFeasible: return std::make_unique<FreeAnswer>();
    default: return std::make_unique<DistributionMode>();
  }
}

}  // namespace

json run_strategy(const SearchRequest& req, const Space& space, const LatencyEstimator& latency,
                  const ImageSet& train_set, torch::Device device, const std::string& out_dir, bool resume) {
  const int B = space.num_blocks();
  const double tmax = req.max_latency_ms;
  const bool constrained = std::isfinite(tmax);
  if (req.min_device_blocks < 0 || req.min_device_blocks > B)
    fail("--min-device-blocks ", req.min_device_blocks, ": expected 0..", B);
  if (constrained && req.strategy.kind != Strategy::AccuracyOnly)
    check_threshold(latency, tmax, req.min_device_blocks);
  auto t0 = std::chrono::steady_clock::now();
  auto oracle = latency.oracle(req.min_device_blocks);
  json out = {{"strategy", req.strategy.name()},
              {"space", space.config().to_json()},
              {"max_latency_ms", constrained ? json(tmax) : json(nullptr)},
              {"min_device_blocks", req.min_device_blocks},
              {"encoding", encoding_name(latency.encoding())},
              {"link", latency.link().to_json()},
              {"options", req.options.to_json(true)},  // complete: what --config reads back
              {"seed", req.options.seed},
              {"oracle", {{"total_ms", oracle.latency.total_ms},
                          {"arch", space.format_arch(oracle.arch)},
                          {"split", oracle.latency.split}}}};
  Outcome found = make_strategy(req.strategy)->find({req, space, latency, train_set, device, out_dir, resume});
  out.update(found.fields);
  const Candidate& chosen = found.chosen;
  LatencyBreakdown lat = latency.breakdown(chosen.arch, chosen.split);
  out["arch"] = space.format_arch(chosen.arch);
  out["split"] = chosen.split;
  out["latency"] = lat.to_json();
  out["payload_bytes"] = lat.payload_bytes;
  out["feasible"] = !constrained || lat.total_ms <= tmax;
  out["supernet_val_acc"] = found.supernet_val_acc;
  if (req.truth) out["truth"] = req.truth->judge(chosen.arch, latency, tmax, req.min_device_blocks);
  out["theta"] = found.theta;
  out["converged"] = found.converged;
  out["history"] = found.history;
  json curve = json::array();
  for (auto& e : found.history) curve.push_back(e["convergence"]);
  out["convergence_curve"] = curve;
  out["timings"] = {{"search_seconds", found.search_seconds},
                    {"total_seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
  return out;
}

}  // namespace nasc
