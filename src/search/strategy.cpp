#include "search/strategy.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>

#include "common/error.h"
#include "common/json_io.h"
#include "search/feasible.h"

namespace nasc {

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

}  // namespace

// One interface for every strategy; each is a few lines over the supernet search or the latency tables.
class SearchStrategy {
 public:
  virtual ~SearchStrategy() = default;
  virtual std::string name() const = 0;
  virtual bool trains() const { return true; }
  virtual bool constrained() const { return true; }
  virtual std::string shared_supernet(int /*min_device_blocks*/) const { return ""; }
  virtual SearchRequest shared_supernet_request(const SearchRequest& req) const { return req; }
  virtual Outcome find(const Context& ctx) const = 0;
};

namespace {

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
  explicit FixedOps(std::string op) : op_(std::move(op)) {}
  std::string name() const override { return "fixed:" + op_; }
  bool trains() const override { return false; }
  Outcome find(const Context& ctx) const override {
    Outcome out;
    out.chosen.arch = Arch(ctx.space.num_layers(), ctx.space.op_index(op_));
    out.chosen.split = ctx.latency.best_split(out.chosen.arch, ctx.req.min_device_blocks).split;
    return out;
  }

 private:
  std::string op_;
};

// largest-feasible and max-flops-feasible: what a user gets for free from the latency tables alone (no training):
// the slowest network that meets the threshold, or the one with the most multiply-accumulates, at its best split.
class FreeAnswer : public SearchStrategy {
 public:
  explicit FreeAnswer(bool largest) : largest_(largest) {}
  std::string name() const override { return largest_ ? "largest-feasible" : "max-flops-feasible"; }
  bool trains() const override { return false; }
  Outcome find(const Context& ctx) const override {
    Outcome out;
    const int floor = ctx.req.min_device_blocks;
    const double t = ctx.req.max_latency_ms;
    const bool found = largest_ ? largest_feasible(ctx.latency, floor, t, out.chosen)
                                : max_macs_feasible(ctx.latency, floor, t, out.chosen);
    if (!found) fail(name(), ": no architecture meets ", ctx.req.max_latency_ms, " ms");
    out.fields["selection"] = largest_ ? "slowest architecture that meets the threshold, at its best split"
                                       : "most multiply-accumulates that meet the threshold";
    out.fields["macs"] = ctx.space.macs(out.chosen.arch);
    return out;
  }

 private:
  bool largest_;
};

// Strategies that train a supernet first: the search runs on problem(), choose() picks the candidate, its
// accuracy is recorded.
class SupernetStrategy : public SearchStrategy {
 public:
  Outcome find(const Context& ctx) const final {
    Outcome out;
    SearchProblem prob = problem(ctx);
    SupernetSearch search(ctx.space, ctx.latency, prob, ctx.req.options, ctx.device);
    record_search(search.run(ctx.train_set, ctx.out_dir, ctx.resume), out);
    choose(ctx, prob, search, out);
    record_accuracy(search, ctx, out);
    return out;
  }

 protected:
  // The threshold and the splits its supernet samples (every split the privacy floor allows), adapting theta.
  virtual SearchProblem problem(const Context& ctx) const {
    SearchProblem prob;
    prob.max_latency_ms = ctx.req.max_latency_ms;
    prob.allowed_splits = splits_from(ctx.space, ctx.req.min_device_blocks, ctx.space.num_blocks());
    return prob;
  }
  virtual void choose(const Context& ctx, const SearchProblem& prob, SupernetSearch& search, Outcome& out) const = 0;

};

// nasc, device-only, server-only: the mode of the learnt distribution, made feasible and filled if asked.
class ThetaMode : public SupernetStrategy {
 public:
  enum class Splits { any, device_only, server_only };
  ThetaMode(std::string name, Splits splits) : name_(std::move(name)), splits_(splits) {}
  std::string name() const override { return name_; }

 protected:
  SearchProblem problem(const Context& ctx) const override {
    SearchProblem prob = SupernetStrategy::problem(ctx);
    const int B = ctx.space.num_blocks(), floor = ctx.req.min_device_blocks;
    if (splits_ == Splits::device_only) prob.allowed_splits = splits_from(ctx.space, B, B);
    if (splits_ == Splits::server_only) prob.allowed_splits = splits_from(ctx.space, floor, floor);
    return prob;
  }

  void choose(const Context& ctx, const SearchProblem& prob, SupernetSearch& search, Outcome& out) const override {
    out.chosen = search.mode();
    out.theta = search.asng().distribution().theta();
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
    if (ctx.req.options.fill_budget > 0) fill_budget(ctx, prob, search, out);
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

  std::string name_;
  Splits splits_;
};

// accuracy-only, the baseline: theta's mode with no threshold and no cut while training (the whole network on the
// device), then cut at its fastest split. Its supernet depends on nothing but the seed.
class AccuracyOnly : public SupernetStrategy {
 public:
  std::string name() const override { return "accuracy-only"; }
  bool constrained() const override { return false; }
  std::string shared_supernet(int) const override { return "accuracy-only"; }

 protected:
  SearchProblem problem(const Context& ctx) const override {
    SearchProblem prob;
    prob.allowed_splits = splits_from(ctx.space, ctx.space.num_blocks(), ctx.space.num_blocks());
    return prob;
  }
  void choose(const Context& ctx, const SearchProblem& prob, SupernetSearch& search, Outcome& out) const override {
    out.chosen = search.mode();
    out.theta = search.asng().distribution().theta();
    out.chosen.split = ctx.latency.best_split(out.chosen.arch, ctx.req.min_device_blocks).split;
  }
};

// random:N: a supernet trained without adapting theta, then N feasible candidates scored on the same held-out
// images; the lowest loss wins. The threshold only reaches the scoring, so its supernet is shared by every threshold and link of a privacy floor.
class RandomSampling : public SupernetStrategy {
 public:
  explicit RandomSampling(int samples) : samples_(samples) {}
  std::string name() const override { return "random:" + std::to_string(samples_); }
  std::string shared_supernet(int min_device_blocks) const override { return cat("random/floor", min_device_blocks); }
  SearchRequest shared_supernet_request(const SearchRequest& req) const override {
    SearchRequest s = req;
    s.strategy = Strategy(std::make_shared<RandomSampling>(1));
    s.max_latency_ms = std::numeric_limits<double>::infinity();
    return s;
  }

 protected:
  SearchProblem problem(const Context& ctx) const override {
    SearchProblem prob = SupernetStrategy::problem(ctx);
    prob.adapt = false;
    return prob;
  }
  void choose(const Context& ctx, const SearchProblem& prob, SupernetSearch& search, Outcome& out) const override {
    std::mt19937_64 rng(ctx.req.options.seed + 0x7A11DULL);
    const FeasibleSampler sampler(ctx.latency, prob.allowed_splits, ctx.req.max_latency_ms);
    std::vector<Candidate> candidates(static_cast<size_t>(samples_));
    for (Candidate& c : candidates)
      if (!sampler.sample(rng, c))
        fail("random search: no allowed split can meet ", ctx.req.max_latency_ms, " ms");  // check_threshold rules this out
    // Scored on eval_limit held-out images (0 = all), as many as score NASC's answer in search.json (random search
    // used at most 1,000 before; its committed results say so).
    json scored = json::array();
    out.chosen = lowest_loss(ctx, search, candidates, scored);
    out.fields["random_scored"] = scored;
    out.fields["random_feasible_scored"] = candidates.size();
    out.fields["random_scored_by"] = "held-out loss";
    out.fields["random_scored_images"] = search.validation_images(ctx.req.options.eval_limit);
  }

 private:
  // The candidate of lowest loss on eval_limit held-out images (the first on a tie), and every candidate's scores
  // appended to `scored`. Loss, not accuracy: on the NAS-Bench-Macro truth the supernet's held-out loss ranks
  // networks of equal latency far better than its accuracy, which rounds every image to right or wrong.
  static Candidate lowest_loss(const Context& ctx, SupernetSearch& search, const std::vector<Candidate>& candidates,
                               json& scored) {
    Candidate chosen = candidates.front();
    double best = std::numeric_limits<double>::infinity();
    for (const Candidate& c : candidates) {
      const auto [loss, acc] = search.validate(c, ctx.req.options.eval_limit);
      scored.push_back({{"arch", ctx.space.format_arch(c.arch)}, {"split", c.split}, {"supernet_val_loss", loss},
                        {"supernet_val_acc", acc}});
      if (loss < best) best = loss, chosen = c;
    }
    return chosen;
  }

  int samples_;
};

// The registry: a strategy is written NAME or NAME:ARG; make receives ARG ("" when absent) and throws a
// std::string (the reason) for a bad one.
struct StrategyEntry {
  std::string name, form;
  std::function<std::shared_ptr<const SearchStrategy>(const std::string& arg, bool has_arg, const Space& space)> make;
};

std::shared_ptr<const SearchStrategy> no_arg(const std::string& name, bool has_arg,
                                             std::shared_ptr<const SearchStrategy> s) {
  if (has_arg) throw std::string(name + " takes no argument");
  return s;
}

const std::vector<StrategyEntry>& registry() {
  using S = std::shared_ptr<const SearchStrategy>;
  static const std::vector<StrategyEntry> entries = {
      {"nasc", "nasc",
       [](const std::string&, bool a, const Space&) -> S {
         return no_arg("nasc", a, std::make_shared<ThetaMode>("nasc", ThetaMode::Splits::any));
       }},
      {"accuracy-only", "accuracy-only",
       [](const std::string&, bool a, const Space&) -> S {
         return no_arg("accuracy-only", a, std::make_shared<AccuracyOnly>());
       }},
      {"fixed", "fixed:OP (e.g. fixed:k3_e6)",
       [](const std::string& op, bool a, const Space& space) -> S {
         if (!a || space.op_index(op) < 0) throw std::string("op '" + op + "' is not an op of space " + space.name());
         return std::make_shared<FixedOps>(op);
       }},
      {"device-only", "device-only",
       [](const std::string&, bool a, const Space&) -> S {
         return no_arg("device-only", a, std::make_shared<ThetaMode>("device-only", ThetaMode::Splits::device_only));
       }},
      {"server-only", "server-only",
       [](const std::string&, bool a, const Space&) -> S {
         return no_arg("server-only", a, std::make_shared<ThetaMode>("server-only", ThetaMode::Splits::server_only));
       }},
      {"random", "random:N",
       [](const std::string& n, bool a, const Space&) -> S {
         int samples = 100;
         if (a) {
           size_t used = 0;
           try {
             samples = std::stoi(n, &used);
           } catch (const std::logic_error&) {
             used = std::string::npos;
           }
           if (used != n.size()) throw std::string("N is not a whole number");
           if (samples < 1 || samples > 100000) throw std::string("N must be 1..100000");
         }
         return std::make_shared<RandomSampling>(samples);
       }},
      {"largest-feasible", "largest-feasible",
       [](const std::string&, bool a, const Space&) -> S {
         return no_arg("largest-feasible", a, std::make_shared<FreeAnswer>(true));
       }},
      {"max-flops-feasible", "max-flops-feasible",
       [](const std::string&, bool a, const Space&) -> S {
         return no_arg("max-flops-feasible", a, std::make_shared<FreeAnswer>(false));
       }},
  };
  return entries;
}

}  // namespace

Strategy::Strategy() : impl_(std::make_shared<ThetaMode>("nasc", ThetaMode::Splits::any)) {}
Strategy::Strategy(std::shared_ptr<const SearchStrategy> impl) : impl_(std::move(impl)) {}

std::string Strategy::accepted_forms() {
  std::string forms;
  const auto& r = registry();
  for (size_t i = 0; i < r.size(); ++i) forms += (i == 0 ? "" : i + 1 == r.size() ? " or " : ", ") + r[i].form;
  return forms;
}

Strategy Strategy::parse(const std::string& text, const Space& space) {
  const size_t colon = text.find(':');
  const std::string name = text.substr(0, colon);
  const bool has_arg = colon != std::string::npos;
  for (const StrategyEntry& e : registry()) {
    if (e.name != name) continue;
    try {
      return Strategy(e.make(has_arg ? text.substr(colon + 1) : std::string(), has_arg, space));
    } catch (const std::string& why) {
      fail("strategy '", text, "': ", why, "; expected ", accepted_forms());
    }
  }
  fail("strategy '", text, "': unknown strategy; expected ", accepted_forms());
}

std::string Strategy::name() const { return impl_->name(); }
bool Strategy::trains() const { return impl_->trains(); }
bool Strategy::constrained() const { return impl_->constrained(); }
std::string Strategy::shared_supernet(int min_device_blocks) const { return impl_->shared_supernet(min_device_blocks); }

SearchRequest shared_supernet_request(const SearchRequest& req) {
  return req.strategy.impl().shared_supernet_request(req);
}

json run_strategy(const SearchRequest& req, const Space& space, const LatencyEstimator& latency,
                  const ImageSet& train_set, torch::Device device, const std::string& out_dir, bool resume) {
  const int B = space.num_blocks();
  const double tmax = req.max_latency_ms;
  const bool constrained = std::isfinite(tmax);
  if (req.min_device_blocks < 0 || req.min_device_blocks > B)
    fail("--min-device-blocks ", req.min_device_blocks, ": expected 0..", B);
  if (constrained && req.strategy.constrained())
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
  Outcome found = req.strategy.impl().find({req, space, latency, train_set, device, out_dir, resume});
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
