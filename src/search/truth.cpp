#include "search/truth.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <numeric>

#include "common/error.h"
#include "common/stats.h"

namespace nasc {

TruthTable TruthTable::load(const std::string& path, const Space& space) {
  return from_json(read_json_file(path), space, path);
}

TruthTable TruthTable::from_json(const json& j, const Space& space, const std::string& ctx) {
  if (!j.is_object() || j.empty())
    fail(ctx, ": expected a truth table, an object of architecture digit strings -> {\"mean_acc\": percent, ...}");
  if (space.num_ops() > 10)
    fail(ctx, ": space ", space.name(), " has ", space.num_ops(), " ops; a truth table keys architectures by one "
         "digit per layer, which needs at most 10");
  TruthTable t;
  t.source_ = ctx;
  t.num_layers_ = space.num_layers();
  t.num_ops_ = space.num_ops();
  std::vector<std::string> keys;
  for (const auto& [key, value] : j.items()) {
    const std::string where = ctx + ": entry \"" + key + "\"";
    const bool digits = int(key.size()) == space.num_layers() &&
                        std::all_of(key.begin(), key.end(), [&](char c) { return c >= '0' && c < '0' + space.num_ops(); });
    if (!digits)
      fail(where, " is not an architecture of space ", space.name(), " (expected ", space.num_layers(),
           " digits 0..", space.num_ops() - 1, ", one op per layer)");
    if (!value.is_object()) fail(where, ": expected an object with mean_acc");
    TruthEntry e;
    e.accuracy = json_get<double>(value, "mean_acc", where);
    if (!std::isfinite(e.accuracy) || e.accuracy < 0 || e.accuracy > 100)
      fail(where, ": mean_acc ", e.accuracy, " is not a percentage (expected 0..100)");
    e.spread = json_get_or<double>(value, "std", 0.0, where);
    e.params = json_get_or<int64_t>(value, "params", 0, where);
    e.flops = json_get_or<int64_t>(value, "flops", 0, where);
    t.entries_.emplace(key, e);
    keys.push_back(key);
  }
  std::sort(keys.begin(), keys.end());
  for (const auto& k : keys) t.archs_.push_back(space.parse_arch(k));
  return t;
}

std::string TruthTable::key(const Arch& arch) const {
  if (int(arch.size()) != num_layers_)
    fail("truth table ", source_, ": architecture of ", arch.size(), " layers, expected ", num_layers_);
  std::string k;
  for (int o : arch) {
    if (o < 0 || o >= num_ops_) fail("truth table ", source_, ": op index ", o, " out of range 0..", num_ops_ - 1);
    k += char('0' + o);
  }
  return k;
}

const TruthEntry* TruthTable::find(const Arch& arch) const {
  auto it = entries_.find(key(arch));
  return it == entries_.end() ? nullptr : &it->second;
}

std::optional<double> TruthTable::accuracy(const Arch& arch) const {
  const TruthEntry* e = find(arch);
  return e ? std::optional<double>(e->accuracy) : std::nullopt;
}

std::optional<TruthOptimum> TruthTable::best_feasible(const LatencyEstimator& latency, double max_ms,
                                                      int min_device_blocks) const {
  std::optional<TruthOptimum> best;
  int64_t feasible = 0;
  for (const Arch& a : archs_) {
    LatencyBreakdown lat = latency.best_split(a, min_device_blocks);
    if (!(lat.total_ms <= max_ms)) continue;
    ++feasible;
    const double acc = entries_.at(key(a)).accuracy;
    if (!best || acc > best->accuracy || (acc == best->accuracy && lat.total_ms < best->latency.total_ms))
      best = TruthOptimum{a, lat, acc, 0};
  }
  if (best) best->feasible = feasible;
  return best;
}

json TruthTable::judge(const Arch& arch, const LatencyEstimator& latency, double max_ms, int min_device_blocks) const {
  const Space& space = latency.space();
  json j = {{"table", source_}, {"table_size", size()}};
  const std::optional<double> acc = accuracy(arch);
  j["true_acc"] = acc ? json(*acc) : json(nullptr);
  auto best = best_feasible(latency, max_ms, min_device_blocks);
  if (best) {
    j["best_true_acc"] = best->accuracy;
    j["best_arch"] = space.arch_digits(best->arch);
    j["best_split"] = best->latency.split;
    j["best_total_ms"] = best->latency.total_ms;
    j["feasible_archs"] = best->feasible;
  } else {
    j["best_true_acc"] = nullptr;
    j["feasible_archs"] = 0;
  }
  j["regret"] = acc && best ? json(best->accuracy - *acc) : json(nullptr);
  return j;
}

json RankingQuality::to_json() const {
  return {{"networks", networks},           {"kendall_tau", kendall_tau}, {"spearman", spearman},
          {"top_precision", top_precision}, {"lo_ms", lo_ms},             {"hi_ms", hi_ms}};
}

RankingQuality ranking_quality(const std::vector<double>& estimate, const std::vector<double>& truth,
                               double top_fraction) {
  if (estimate.size() != truth.size())
    fail("ranking quality: ", estimate.size(), " estimates for ", truth.size(), " true accuracies");
  if (!(top_fraction > 0 && top_fraction <= 1)) fail("top fraction ", top_fraction, " is not in (0, 1]");
  RankingQuality q;
  q.networks = truth.size();
  if (truth.empty()) return q;
  q.kendall_tau = kendall_tau(estimate, truth);
  q.spearman = spearman(estimate, truth);
  const size_t k = std::max<size_t>(1, size_t(std::llround(top_fraction * double(truth.size()))));
  auto top = [k](const std::vector<double>& v) {
    std::vector<size_t> order(v.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] > v[b]; });
    order.resize(k);
    std::sort(order.begin(), order.end());
    return order;
  };
  const std::vector<size_t> a = top(estimate), b = top(truth);
  std::vector<size_t> both;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(both));
  q.top_precision = double(both.size()) / double(k);
  return q;
}

std::vector<RankingQuality> ranking_quality_by_latency(const std::vector<double>& estimate,
                                                       const std::vector<double>& truth,
                                                       const std::vector<double>& latency_ms, int bands,
                                                       double top_fraction) {
  if (latency_ms.size() != truth.size())
    fail("ranking quality: ", latency_ms.size(), " latencies for ", truth.size(), " true accuracies");
  if (bands < 1 || truth.size() < size_t(2 * bands))
    fail(bands, " latency bands of ", truth.size(), " networks: expected at least 2 networks per band");
  std::vector<size_t> order(truth.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return latency_ms[a] < latency_ms[b]; });
  std::vector<RankingQuality> out;
  for (int band = 0; band < bands; ++band) {
    const size_t lo = order.size() * size_t(band) / size_t(bands), hi = order.size() * size_t(band + 1) / size_t(bands);
    std::vector<double> e, t;
    for (size_t i = lo; i < hi; ++i) e.push_back(estimate[order[i]]), t.push_back(truth[order[i]]);
    RankingQuality q = ranking_quality(e, t, top_fraction);
    q.lo_ms = latency_ms[order[lo]];
    q.hi_ms = latency_ms[order[hi - 1]];
    out.push_back(q);
  }
  return out;
}

}  // namespace nasc
