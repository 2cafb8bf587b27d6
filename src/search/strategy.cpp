#include "search/strategy.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>

#include "common/error.h"
#include "common/json_io.h"

namespace nasc {

Strategy Strategy::parse(const std::string& text, const Space& space) {
  Strategy s;
  auto bad = [&](const std::string& why) {
    fail("strategy '", text, "': ", why,
         "; expected nasc, accuracy-only, fixed:OP (e.g. fixed:k3_e6), device-only, server-only or random:N");
  };
  if (text == "nasc") return s;
  if (text == "accuracy-only") s.kind = AccuracyOnly;
  else if (text == "device-only") s.kind = DeviceOnly;
  else if (text == "server-only") s.kind = ServerOnly;
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

json theta_json(const CategoricalDistribution& d) { return d.theta(); }

}  // namespace

bool sample_feasible(const LatencyEstimator& latency, const std::vector<bool>& allowed, double max_ms,
                     std::mt19937_64& rng, Config& out) {
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
  for (int b = 1; b < B - 1; ++b) {
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
                          const std::vector<bool>& allowed, double max_ms, Config& out) {
  const Space& space = latency.space();
  const int B = space.num_blocks(), L = space.num_layers(), K = space.num_ops();
  if (int(theta.size()) != L + 1) fail("theta has ", theta.size(), " rows, expected ", L + 1, " (layers and split)");
  if (!(max_ms > 0) || !std::isfinite(max_ms)) return false;
  const double grid = max_ms / kLatencyGrid;
  auto log_p = [](double p) { return p > 0 ? std::log(p) : -std::numeric_limits<double>::infinity(); };
  const double none = -std::numeric_limits<double>::infinity();
  double best_score = none;
  // value[l][j]: the best log-probability of ops for layers < l costing at most j grid steps; pick: the op it took.
  std::vector<std::vector<double>> value(size_t(L + 1));
  std::vector<std::vector<int>> pick(static_cast<size_t>(L));
  for (int p = 0; p <= B && p < int(allowed.size()); ++p) {
    if (!allowed[p] || !(theta[size_t(L)][size_t(p)] > 0)) continue;
    // Stem and head (blocks 0 and B-1) cost the same whatever the ops; layer l is block l + 1.
    const double budget = max_ms - latency.link_ms(p) - latency.block_ms(0, 0, p) - latency.block_ms(B - 1, 0, p);
    if (budget < 0) continue;
    const int steps = int(std::min<double>(std::floor(budget / grid), kLatencyGrid));
    value[0].assign(size_t(steps + 1), 0.0);
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
    const double score = value[size_t(L)][size_t(steps)] + log_p(theta[size_t(L)][size_t(p)]);
    if (!(score > best_score)) continue;
    Config c;
    c.split = p;
    c.arch.assign(size_t(L), 0);
    for (int l = L - 1, j = steps; l >= 0; --l) {
      c.arch[size_t(l)] = pick[size_t(l)][size_t(j)];
      j -= int(std::ceil(latency.block_ms(l + 1, c.arch[size_t(l)], p) / grid));
    }
    if (latency.total_ms(c.arch, c.split) > max_ms) continue;  // rounding up makes this unreachable; kept as a guard
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
              {"options", req.options.to_json()},
              {"seed", req.options.seed},
              {"oracle", {{"total_ms", oracle.latency.total_ms},
                          {"arch", space.format_arch(oracle.arch)},
                          {"split", oracle.latency.split}}}};
  Config chosen;
  json supernet_acc = nullptr, theta = nullptr, history = json::array();
  bool converged = false;
  double search_seconds = 0;

  if (req.strategy.kind == Strategy::Fixed) {
    chosen.arch = Arch(space.num_layers(), space.op_index(req.strategy.fixed_op));
    chosen.split = latency.best_split(chosen.arch, req.min_device_blocks).split;
  } else {
    SearchProblem prob;
    prob.max_latency_ms = req.strategy.kind == Strategy::AccuracyOnly ? std::numeric_limits<double>::infinity() : tmax;
    switch (req.strategy.kind) {
      case Strategy::AccuracyOnly: prob.allowed_splits = splits_from(space, B, B); break;  // no cut while training
      case Strategy::DeviceOnly: prob.allowed_splits = splits_from(space, B, B); break;
      case Strategy::ServerOnly:
        prob.allowed_splits = splits_from(space, req.min_device_blocks, req.min_device_blocks);
        break;
      default: prob.allowed_splits = splits_from(space, req.min_device_blocks, B);
    }
    prob.adapt = req.strategy.kind != Strategy::Random;
    SupernetSearch search(space, latency, prob, req.options, device);
    SearchState st = search.run(train_set, out_dir, resume);
    for (auto& e : st.history) history.push_back(e.to_json());
    converged = st.converged;
    search_seconds = st.seconds;
    if (req.strategy.kind == Strategy::Random) {
      // N feasible configurations (sample_feasible), each scored on the same validation images.
      std::mt19937_64 rng(req.options.seed + 0x7A11DULL);
      double best_acc = -1;
      int found = 0;
      const int64_t score_images = std::min<int64_t>(req.options.eval_limit > 0 ? req.options.eval_limit : 1000, 1000);
      for (; found < req.strategy.samples; ++found) {
        Config c;
        if (!sample_feasible(latency, prob.allowed_splits, tmax, rng, c))
          fail("random search: no allowed split can meet ", tmax, " ms");  // check_threshold rules this out
        double acc = search.validate(c, score_images).second;
        if (acc > best_acc) best_acc = acc, chosen = c;
      }
      out["random_feasible_scored"] = found;
    } else {
      chosen = search.mode();
      theta = theta_json(search.asng().distribution());
    }
    if (req.strategy.kind == Strategy::AccuracyOnly) {
      chosen.split = latency.best_split(chosen.arch, req.min_device_blocks).split;
    } else if (req.strategy.kind != Strategy::Random) {
      // A search stopped before theta converged can have an infeasible mode; what it returns is then the most
      // probable configuration that meets the threshold, and search.json says so.
      out["mode_feasible"] = search.feasible(chosen);
      out["selection"] = "mode of theta";
      Config repaired;
      if (constrained && !search.feasible(chosen) &&
          most_likely_feasible(latency, search.asng().distribution().theta(), prob.allowed_splits, tmax, repaired)) {
        out["mode"] = {{"arch", space.format_arch(chosen.arch)}, {"split", chosen.split}};
        out["selection"] = "most probable feasible configuration (the mode of theta misses the threshold)";
        chosen = repaired;
      }
    }
    auto [loss, acc] = search.validate(chosen, req.options.eval_limit);
    supernet_acc = acc;
    out["supernet_val_loss"] = loss;
  }
  LatencyBreakdown lat = latency.breakdown(chosen.arch, chosen.split);
  out["arch"] = space.format_arch(chosen.arch);
  out["split"] = chosen.split;
  out["latency"] = lat.to_json();
  out["payload_bytes"] = lat.payload_bytes;
  out["feasible"] = !constrained || lat.total_ms <= tmax;
  out["supernet_val_acc"] = supernet_acc;
  out["theta"] = theta;
  out["converged"] = converged;
  out["history"] = history;
  json curve = json::array();
  for (auto& e : history) curve.push_back(e["convergence"]);
  out["convergence_curve"] = curve;
  out["timings"] = {{"search_seconds", search_seconds},
                    {"total_seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
  return out;
}

}  // namespace nasc
