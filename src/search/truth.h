// Ground truth for a space: the true accuracy of architectures from a benchmark table (NAS-Bench-Macro's JSON,
// digit string -> {mean_acc, std, params, flops}), and the best true accuracy any allowed (architecture, split)
// reaches under a latency threshold, so that a search's answer is judged by its regret without retraining.
#pragma once
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/json_io.h"
#include "latency/estimator.h"
#include "space/space.h"

namespace nasc {

struct TruthEntry {
  double accuracy = 0;  // mean test accuracy in percent
  double spread = 0;    // its seed standard deviation in points
  int64_t params = 0, flops = 0;  // as the table states them (0 when it does not)
};

// The answer a table says is best under a threshold, and how many of its architectures meet it.
struct TruthOptimum {
  Arch arch;
  LatencyBreakdown latency;  // at the latency-minimal allowed split
  double accuracy = 0;
  int64_t feasible = 0;      // table architectures with an allowed split meeting the threshold
};

class TruthTable {
 public:
  // Reads a table of `space` (keys: one op digit per layer). Throws Error naming the file and the entry on a
  // key that is not an architecture of the space or a missing or non-numeric mean_acc.
  static TruthTable load(const std::string& path, const Space& space);
  static TruthTable from_json(const json& j, const Space& space, const std::string& context);

  const std::string& source() const { return source_; }
  size_t size() const { return entries_.size(); }
  const TruthEntry* find(const Arch& arch) const;  // nullptr when the table lacks it
  std::optional<double> accuracy(const Arch& arch) const;
  // Every architecture of the table, in key order (the same on every machine).
  const std::vector<Arch>& archs() const { return archs_; }

  // Exhaustive over the table and every split p >= min_device_blocks: the most accurate architecture whose
  // latency-minimal allowed split meets max_ms (ties: the faster). Returns nullopt when none does.
  std::optional<TruthOptimum> best_feasible(const LatencyEstimator& latency, double max_ms,
                                            int min_device_blocks) const;

  // The truth fields of a search result for `arch`: true accuracy, the optimum under the same constraint, regret.
  json judge(const Arch& arch, const LatencyEstimator& latency, double max_ms, int min_device_blocks) const;

 private:
  std::string source_;
  std::unordered_map<std::string, TruthEntry> entries_;  // by digit string
  std::vector<Arch> archs_;
  int num_layers_ = 0, num_ops_ = 0;
  std::string key(const Arch& arch) const;
};

// How well an estimate (a supernet's accuracy, say) orders networks like the truth: Kendall's tau-b, Spearman's
// rho, and top-k precision, the share of the truly best `top_fraction` of the networks that the estimate also puts
// in its best `top_fraction` (ties in the estimate broken by index, so the count is exact).
struct RankingQuality {
  size_t networks = 0;
  double kendall_tau = 0, spearman = 0, top_precision = 0;
  double lo_ms = 0, hi_ms = 0;  // the latency band the networks came from (whole range for the overall figure)
  json to_json() const;
};
RankingQuality ranking_quality(const std::vector<double>& estimate, const std::vector<double>& truth,
                               double top_fraction);

// The same within `bands` latency bands of equal counts (networks sorted by latency, cut into consecutive groups):
// under a threshold, what decides is how the estimate orders networks of similar latency, which the overall
// figure mixes with the easy ordering of small against large ones. Throws when a band would hold < 2 networks.
std::vector<RankingQuality> ranking_quality_by_latency(const std::vector<double>& estimate,
                                                       const std::vector<double>& truth,
                                                       const std::vector<double>& latency_ms, int bands,
                                                       double top_fraction);

}  // namespace nasc
