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

}  // namespace nasc
