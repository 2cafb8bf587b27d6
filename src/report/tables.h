// results.csv (one row per run of an experiment) and the Markdown report computed from it, so that every figure
// in results.md can be recomputed from the CSV alone.
#pragma once
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace nasc {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One (scenario, privacy floor, bandwidth, threshold, strategy, seed) run: the found configuration, its modelled
// latency and its accuracy after retraining. Empty CSV fields read back as NaN.
struct ResultRow {
  std::string scenario, device_profile, server_profile;
  int privacy_floor = 1;  // min_device_blocks
  double bandwidth_mbps = 0;
  // How T was placed (at most one of the two is set; neither: an unconstrained run): T = floor + f x
  // (accuracy-only - floor), or T = the q-quantile of the latency of the space's networks (latency_quantile_ms).
  double threshold_fraction = kNaN;
  double threshold_quantile = kNaN;
  double threshold_ms = kNaN;
  double floor_ms = 0;  // the oracle: latency-minimal (ops, split) of the space on this hardware and link
  std::string strategy;
  uint64_t seed = 0;
  std::string arch;
  int split = 0;
  int64_t payload_bytes = 0;
  double device_ms = 0, uplink_ms = 0, server_ms = 0, downlink_ms = 0, total_ms = 0;
  bool feasible = true;
  double supernet_val_acc = kNaN;  // NaN where no supernet scored it (fixed networks)
  double test_acc = 0;
  double search_s = 0;   // wall time to find the configuration, supernet training included
  double retrain_s = 0;  // wall time of the stand-alone retraining
  std::string run_dir;   // relative to the experiment directory
  // With a truth table (NaN without): the answer's true accuracy in %, the best that meets T, their difference.
  double true_acc = kNaN, best_true_acc = kNaN, regret = kNaN;

  bool constrained() const { return threshold_fraction == threshold_fraction || by_quantile(); }
  bool by_quantile() const { return threshold_quantile == threshold_quantile; }
  double threshold_level() const { return by_quantile() ? threshold_quantile : threshold_fraction; }  // f or q
  double comm_ms() const { return uplink_ms + downlink_ms; }
  static std::string csv_header();
  std::string csv_row() const;
  static ResultRow from_csv(const std::string& line, const std::string& context);
  static ResultRow from_fields(const std::vector<std::string>& fields, const std::string& context);
};

void write_results_csv(const std::string& path, const std::vector<ResultRow>& rows);
std::vector<ResultRow> read_results_csv(const std::string& path);

// The reference for the search cost: one stand-alone network of the space trained for the search's epochs on
// as many images as the search trains its weights on.
struct CostRecord {
  std::string space, arch;
  int epochs = 0;
  int64_t train_images = 0;
  double seconds = 0;
};

void write_cost_csv(const std::string& path, const CostRecord& c);
CostRecord read_cost_csv(const std::string& path);

// Mean and sample standard deviation over seeds of one strategy in one cell.
struct StrategySummary {
  std::string strategy;
  int n = 0;
  double acc_mean = 0, acc_std = 0;
  double total_ms = 0, comm_ms = 0, device_ms = 0, server_ms = 0;
  double payload_bytes = 0, split = 0;
  int meets_threshold = 0;  // runs whose total latency is within the cell's threshold
  double search_s = 0;
  std::map<uint64_t, double> acc_by_seed;  // test accuracy of each seed's run
  int judged = 0;                           // runs with a true accuracy (truth table)
  double regret_mean = kNaN, regret_std = kNaN, best_true_acc = kNaN;
};

// One grid cell (scenario, floor, bandwidth, threshold); accuracy-only, run once per (scenario, floor,
// bandwidth), appears in every threshold cell of its bandwidth as the reference.
struct CellSummary {
  std::string scenario, server_profile;
  int privacy_floor = 1;
  double bandwidth_mbps = 0, threshold_ms = kNaN, floor_ms = 0;
  double threshold_level = kNaN;  // the runs' threshold_fraction, or their threshold_quantile when by_quantile
  bool by_quantile = false;
  std::vector<StrategySummary> strategies;  // in order of first appearance in the CSV
  const StrategySummary* find(const std::string& strategy) const;
  bool constrained() const { return threshold_level == threshold_level; }
  const char* level_name() const { return by_quantile ? "q" : "f"; }
};

std::vector<CellSummary> summarize(const std::vector<ResultRow>& rows);

// Points (latency, accuracy) not dominated by another: none has lower-or-equal latency and higher-or-equal
// accuracy with one of the two strict. Returned in order of latency.
std::vector<std::pair<double, double>> pareto_front(std::vector<std::pair<double, double>> points);

// 1 - T_strategy / T_accuracy-only on mean total latencies (NaN without an accuracy-only reference).
double latency_reduction(const CellSummary& cell, const std::string& strategy);
std::string format_percent(double fraction);  // 0.3721 -> "37.2%", as results.md prints reductions

// NASC against another search that follows the threshold (random:N, device-only, server-only) in one cell,
// seed by seed: the same seed retrains both networks with the same initialisation and data order, so the per-seed
// difference removes the retraining noise the two share.
struct HeadToHead {
  std::string baseline;
  int seeds = 0;  // seeds both ran
  int wins = 0;   // of those, seeds where NASC's retrained accuracy is higher
  double delta_mean = kNaN, delta_std = kNaN;  // NASC - baseline accuracy over those seeds
  double spread = kNaN;  // the larger of the two strategies' seed standard deviations in the cell
  // +1: NASC ahead by more than the spread, -1: behind by more, 0: within it (or fewer than 2 seeds each)
  int verdict() const;
};

std::vector<HeadToHead> head_to_head(const CellSummary& cell);

// results.md: a NASC-vs-accuracy-only summary, one table per cell, and the search cost.
std::string render_markdown(const std::vector<ResultRow>& rows, const CostRecord* cost, const std::string& title);

}  // namespace nasc
