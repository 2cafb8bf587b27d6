#include "report/tables.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "common/csv.h"
#include "common/error.h"
#include "common/json_io.h"

namespace nasc {

namespace {

// RFC 4180: architectures are comma-separated op lists, so fields with commas or quotes are quoted.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// %.10g keeps enough digits that tables recomputed from the CSV agree with results.md to the printed digit.
std::string num(double v) {
  if (v != v) return "";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

double parse_num(const std::string& s, const char* field, const std::string& ctx) {
  if (s.empty()) return kNaN;
  try {
    size_t used = 0;
    double v = std::stod(s, &used);
    if (used == s.size()) return v;
  } catch (const std::logic_error&) {
  }
  fail(ctx, ": field ", field, " = '", s, "' is not a number");
}

int64_t parse_int(const std::string& s, const char* field, const std::string& ctx) {
  try {
    size_t used = 0;
    long long v = std::stoll(s, &used);
    if (used == s.size()) return v;
  } catch (const std::logic_error&) {
  }
  fail(ctx, ": field ", field, " = '", s, "' is not a whole number");
}

const char* kColumns[] = {"scenario",      "device_profile", "server_profile",   "privacy_floor", "bandwidth_mbps",
                          "threshold_fraction", "threshold_ms", "floor_ms",       "strategy",      "seed",
                          "arch",          "split",          "payload_bytes",    "device_ms",     "uplink_ms",
                          "server_ms",     "downlink_ms",    "total_ms",         "feasible",      "supernet_val_acc",
                          "test_acc",      "search_s",       "retrain_s",        "run_dir",       "true_acc",
                          "best_true_acc", "regret",   "threshold_quantile"};
constexpr size_t kNumColumns = sizeof(kColumns) / sizeof(kColumns[0]);
// Files written before a column group was added end before it: without the truth columns (true_acc,
// best_true_acc, regret) and threshold_quantile, or without threshold_quantile alone. They still read.
constexpr size_t kWidths[] = {kNumColumns - 4, kNumColumns - 1, kNumColumns};

bool accepted_width(size_t n) { return std::find(std::begin(kWidths), std::end(kWidths), n) != std::end(kWidths); }

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot open ", path, ": expected a readable CSV file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? kNaN : s / double(v.size());
}

double sample_std(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  double m = mean(v), s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1));
}

std::string fmt(const char* f, double v) {
  if (v != v) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

std::string ResultRow::csv_header() {
  std::string h;
  for (size_t i = 0; i < kNumColumns; ++i) h += (i ? "," : "") + std::string(kColumns[i]);
  return h;
}

std::string ResultRow::csv_row() const {
  std::vector<std::string> f = {csv_field(scenario),       csv_field(device_profile),
                                csv_field(server_profile), std::to_string(privacy_floor),
                                num(bandwidth_mbps),       num(threshold_fraction),
                                num(threshold_ms),         num(floor_ms),
                                csv_field(strategy),       std::to_string(seed),
                                csv_field(arch),           std::to_string(split),
                                std::to_string(payload_bytes), num(device_ms),
                                num(uplink_ms),            num(server_ms),
                                num(downlink_ms),          num(total_ms),
                                feasible ? "1" : "0",      num(supernet_val_acc),
                                num(test_acc),             num(search_s),
                                num(retrain_s),            csv_field(run_dir),
                                num(true_acc),             num(best_true_acc),
                                num(regret),               num(threshold_quantile)};
  std::string s;
  for (size_t i = 0; i < f.size(); ++i) s += (i ? "," : "") + f[i];
  return s;
}

ResultRow ResultRow::from_csv(const std::string& line, const std::string& ctx) {
  return from_fields(parse_csv(csv_header() + "\n" + line, ctx).rows.at(0), ctx);
}

ResultRow ResultRow::from_fields(const std::vector<std::string>& f, const std::string& ctx) {
  if (!accepted_width(f.size()))
    fail(ctx, ": ", f.size(), " fields, expected ", kNumColumns, " (or ", kWidths[1], " or ", kWidths[0],
         " from before the threshold_quantile and truth columns)");
  ResultRow r;
  size_t i = 0;
  r.scenario = f[i++];
  r.device_profile = f[i++];
  r.server_profile = f[i++];
  r.privacy_floor = int(parse_int(f[i++], "privacy_floor", ctx));
  r.bandwidth_mbps = parse_num(f[i++], "bandwidth_mbps", ctx);
  r.threshold_fraction = parse_num(f[i++], "threshold_fraction", ctx);
  r.threshold_ms = parse_num(f[i++], "threshold_ms", ctx);
  r.floor_ms = parse_num(f[i++], "floor_ms", ctx);
  r.strategy = f[i++];
  r.seed = uint64_t(parse_int(f[i++], "seed", ctx));
  r.arch = f[i++];
  r.split = int(parse_int(f[i++], "split", ctx));
  r.payload_bytes = parse_int(f[i++], "payload_bytes", ctx);
  r.device_ms = parse_num(f[i++], "device_ms", ctx);
  r.uplink_ms = parse_num(f[i++], "uplink_ms", ctx);
  r.server_ms = parse_num(f[i++], "server_ms", ctx);
  r.downlink_ms = parse_num(f[i++], "downlink_ms", ctx);
  r.total_ms = parse_num(f[i++], "total_ms", ctx);
  r.feasible = parse_int(f[i++], "feasible", ctx) != 0;
  r.supernet_val_acc = parse_num(f[i++], "supernet_val_acc", ctx);
  r.test_acc = parse_num(f[i++], "test_acc", ctx);
  r.search_s = parse_num(f[i++], "search_s", ctx);
  r.retrain_s = parse_num(f[i++], "retrain_s", ctx);
  r.run_dir = f[i++];
  if (f.size() > kWidths[0]) {
    r.true_acc = parse_num(f[i++], "true_acc", ctx);
    r.best_true_acc = parse_num(f[i++], "best_true_acc", ctx);
    r.regret = parse_num(f[i++], "regret", ctx);
  }
  if (f.size() > kWidths[1]) r.threshold_quantile = parse_num(f[i++], "threshold_quantile", ctx);
  if (!std::isnan(r.threshold_fraction) && r.by_quantile())
    fail(ctx, ": threshold_fraction and threshold_quantile are both set; expected at most one");
  return r;
}

void write_results_csv(const std::string& path, const std::vector<ResultRow>& rows) {
  std::string text = ResultRow::csv_header() + "\n";
  for (auto& r : rows) text += r.csv_row() + "\n";
  write_text_atomic(path, text);
}

std::vector<ResultRow> read_results_csv(const std::string& path) {
  const CsvTable t = parse_csv(read_text(path), path);
  std::vector<std::string> prefix = parse_csv(ResultRow::csv_header(), "results.csv columns").header;
  if (accepted_width(t.header.size())) prefix.resize(t.header.size());
  if (t.header != prefix)
    fail(path, ": header does not match; expected the results.csv columns ", ResultRow::csv_header());
  std::vector<ResultRow> rows;
  for (size_t i = 0; i < t.rows.size(); ++i) rows.push_back(ResultRow::from_fields(t.rows[i], cat(path, ":", t.lines[i])));
  return rows;
}

void write_cost_csv(const std::string& path, const CostRecord& c) {
  write_text_atomic(path, cat("space,arch,epochs,train_images,seconds\n", csv_field(c.space), ",", csv_field(c.arch),
                              ",", c.epochs, ",", c.train_images, ",", num(c.seconds), "\n"));
}

CostRecord read_cost_csv(const std::string& path) {
  const CsvTable t = parse_csv(read_text(path), path);
  const std::vector<std::string> columns = {"space", "arch", "epochs", "train_images", "seconds"};
  if (t.header != columns || t.rows.size() != 1)
    fail(path, ": expected the header space,arch,epochs,train_images,seconds and one row");
  const std::vector<std::string>& f = t.rows[0];
  CostRecord c;
  c.space = f[0];
  c.arch = f[1];
  c.epochs = int(parse_int(f[2], "epochs", path));
  c.train_images = parse_int(f[3], "train_images", path);
  c.seconds = parse_num(f[4], "seconds", path);
  return c;
}

const StrategySummary* CellSummary::find(const std::string& strategy) const {
  for (auto& s : strategies)
    if (s.strategy == strategy) return &s;
  return nullptr;
}

namespace {

// The threshold a constrained run was given, as results.md groups runs: by its rule (quantile or fraction) and level.
using Level = std::pair<bool, double>;
Level level_of(const ResultRow& r) { return {r.by_quantile(), r.threshold_level()}; }

// Strategy s's runs among a cell's group (threshold level, or its unconstrained runs when it is null): every column
// of the summary table side by side, in one pass. nullopt when it has none there.
std::optional<StrategySummary> summarize_strategy(const std::string& s, const std::optional<Level>& level,
                                                  double threshold_ms, const std::vector<const ResultRow*>& group) {
  std::vector<double> acc, total, comm, dev, srv, payload, split, search, regret, best_true;
  std::map<uint64_t, double> by_seed;
  int meets = 0;
  for (auto* r : group) {
    if (r->strategy != s || (r->constrained() && (!level || level_of(*r) != *level))) continue;
    acc.push_back(r->test_acc);
    by_seed[r->seed] = r->test_acc;
    total.push_back(r->total_ms);
    comm.push_back(r->comm_ms());
    dev.push_back(r->device_ms);
    srv.push_back(r->server_ms);
    payload.push_back(double(r->payload_bytes));
    split.push_back(r->split);
    search.push_back(r->search_s);
    if (r->regret == r->regret) regret.push_back(r->regret), best_true.push_back(r->best_true_acc);
    meets += (threshold_ms == threshold_ms) ? r->total_ms <= threshold_ms : r->feasible;
  }
  if (acc.empty()) return std::nullopt;
  StrategySummary ss;
  ss.strategy = s;
  ss.n = int(acc.size());
  ss.acc_mean = mean(acc);
  ss.acc_std = sample_std(acc);
  ss.total_ms = mean(total);
  ss.comm_ms = mean(comm);
  ss.device_ms = mean(dev);
  ss.server_ms = mean(srv);
  ss.payload_bytes = mean(payload);
  ss.split = mean(split);
  ss.meets_threshold = meets;
  ss.search_s = mean(search);
  ss.acc_by_seed = std::move(by_seed);
  ss.judged = int(regret.size());
  if (!regret.empty()) {
    ss.regret_mean = mean(regret);
    ss.regret_std = sample_std(regret);
    ss.best_true_acc = mean(best_true);
  }
  return ss;
}

}  // namespace

// Groups runs into cells: per (scenario, floor) in CSV order, bandwidths in numeric order, then threshold fractions.
std::vector<CellSummary> summarize(const std::vector<ResultRow>& rows) {
  // Group key of a (scenario, floor, bandwidth): bandwidths sort numerically, scenarios keep CSV order.
  std::vector<std::pair<std::string, int>> scen_order;
  std::vector<std::string> strat_order;
  for (auto& r : rows) {
    if (std::find(scen_order.begin(), scen_order.end(), std::make_pair(r.scenario, r.privacy_floor)) == scen_order.end())
      scen_order.push_back({r.scenario, r.privacy_floor});
    if (std::find(strat_order.begin(), strat_order.end(), r.strategy) == strat_order.end())
      strat_order.push_back(r.strategy);
  }
  std::vector<CellSummary> cells;
  for (auto& [scenario, floor] : scen_order) {
    std::set<double> bws;
    for (auto& r : rows)
      if (r.scenario == scenario && r.privacy_floor == floor) bws.insert(r.bandwidth_mbps);
    for (double bw : bws) {
      std::vector<const ResultRow*> group;
      std::set<Level> levels;
      for (auto& r : rows) {
        if (r.scenario != scenario || r.privacy_floor != floor || r.bandwidth_mbps != bw) continue;
        group.push_back(&r);
        if (r.constrained()) levels.insert(level_of(r));
      }
      std::vector<std::optional<Level>> ls(levels.begin(), levels.end());
      if (ls.empty()) ls.push_back(std::nullopt);  // only unconstrained runs: one cell for them
      for (const std::optional<Level>& level : ls) {
        CellSummary c;
        c.scenario = scenario;
        c.privacy_floor = floor;
        c.bandwidth_mbps = bw;
        if (level) c.by_quantile = level->first, c.threshold_level = level->second;
        c.server_profile = group.front()->server_profile;
        c.floor_ms = group.front()->floor_ms;
        for (auto* r : group)
          if (level && r->constrained() && level_of(*r) == *level) c.threshold_ms = r->threshold_ms;
        for (auto& s : strat_order)
          if (std::optional<StrategySummary> ss = summarize_strategy(s, level, c.threshold_ms, group))
            c.strategies.push_back(*ss);
        cells.push_back(c);
      }
    }
  }
  return cells;
}

std::vector<std::pair<double, double>> pareto_front(std::vector<std::pair<double, double>> points) {
  std::sort(points.begin(), points.end(), [](auto& a, auto& b) {
    return a.first < b.first || (a.first == b.first && a.second > b.second);
  });
  std::vector<std::pair<double, double>> front;
  for (auto& p : points)
    if (front.empty() || p.second > front.back().second) front.push_back(p);
  return front;
}

double latency_reduction(const CellSummary& cell, const std::string& strategy) {
  const StrategySummary* s = cell.find(strategy);
  const StrategySummary* ref = cell.find("accuracy-only");
  if (!s || !ref || !(ref->total_ms > 0)) return kNaN;
  return 1.0 - s->total_ms / ref->total_ms;
}

std::string format_percent(double fraction) { return fmt("%.1f%%", 100 * fraction); }

int HeadToHead::verdict() const {
  if (seeds < 2 || !(spread == spread)) return 0;
  return delta_mean > spread ? 1 : delta_mean < -spread ? -1 : 0;
}

std::vector<HeadToHead> head_to_head(const CellSummary& cell) {
  const StrategySummary* nasc = cell.find("nasc");
  std::vector<HeadToHead> out;
  if (!nasc || !cell.constrained()) return out;
  for (const StrategySummary& b : cell.strategies) {
    if (b.strategy == "nasc" || b.strategy == "accuracy-only" || b.strategy.rfind("fixed:", 0) == 0) continue;
    std::vector<double> deltas;
    int wins = 0;
    for (auto& [seed, acc] : nasc->acc_by_seed) {
      auto it = b.acc_by_seed.find(seed);
      if (it == b.acc_by_seed.end()) continue;
      deltas.push_back(acc - it->second);
      wins += acc > it->second;
    }
    HeadToHead h;
    h.baseline = b.strategy;
    h.seeds = int(deltas.size());
    h.wins = wins;
    h.delta_mean = mean(deltas);
    h.delta_std = deltas.size() > 1 ? sample_std(deltas) : kNaN;
    h.spread = nasc->n > 1 && b.n > 1 ? std::max(nasc->acc_std, b.acc_std) : kNaN;
    out.push_back(h);
  }
  return out;
}

namespace {

std::string accuracy_cell(const StrategySummary& s) {
  return s.n > 1 ? fmt("%.2f", 100 * s.acc_mean) + " ± " + fmt("%.2f", 100 * s.acc_std) : fmt("%.2f", 100 * s.acc_mean);
}

// The threshold column's name: q for a grid whose thresholds are quantiles of the space's latency, else f.
const char* level_column(const std::vector<CellSummary>& cells) {
  for (auto& c : cells)
    if (c.by_quantile) return "q";
  return "f";
}

std::string cell_heading(const CellSummary& c) {
  const StrategySummary* ref = c.find("accuracy-only");
  std::string h = cat("### ", fmt("%g", c.bandwidth_mbps), " Mbit/s, ");
  if (c.threshold_ms == c.threshold_ms)
    h += cat("T = ", fmt("%.3f", c.threshold_ms), " ms (", c.level_name(), " = ", fmt("%g", c.threshold_level), ")");
  else
    h += "unconstrained";
  h += cat("; floor ", fmt("%.3f", c.floor_ms), " ms");
  if (ref) h += cat(", accuracy-only ", fmt("%.3f", ref->total_ms), " ms");
  return h + "\n\n";
}

// Per scenario, privacy floor and bandwidth: every (strategy, threshold) point, fastest first, marking the Pareto
// front, so that strategies are compared at equal latency and not only at the T they were given.
std::string pareto_tables(const std::vector<CellSummary>& cells) {
  struct Point {
    double ms, acc, std;
    std::string strategy, f;
    int meets, n;  // meets: runs within the cell's threshold; none for a threshold-free strategy ("–")
    double split;
  };
  std::vector<std::pair<std::string, std::vector<Point>>> groups;
  for (auto& c : cells) {
    const std::string key = cat(c.scenario, ", privacy floor ", c.privacy_floor, ", ", fmt("%g", c.bandwidth_mbps),
                                " Mbit/s");
    if (groups.empty() || groups.back().first != key) groups.push_back({key, {}});
    for (auto& s : c.strategies) {
      // accuracy-only and fixed networks ignore T: the same answer in every threshold cell, listed once
      const bool any_threshold = s.strategy == "accuracy-only" || s.strategy.rfind("fixed:", 0) == 0;
      auto& pts = groups.back().second;
      if (any_threshold &&
          std::any_of(pts.begin(), pts.end(), [&](const Point& p) { return p.strategy == s.strategy; }))
        continue;
      pts.push_back({s.total_ms, 100 * s.acc_mean, 100 * s.acc_std, s.strategy,
                     any_threshold ? "–" : fmt("%g", c.threshold_level), s.meets_threshold, s.n, s.split});
    }
  }
  std::ostringstream md;
  md << "## Accuracy against latency\n\n"
     << "Every (strategy, threshold " << level_column(cells) << ") of a scenario, privacy floor and bandwidth, "
        "fastest first; front = on the Pareto front (no other point is at least as fast and at least as accurate). "
        "accuracy-only and fixed networks do not depend on T (" << level_column(cells) << " –). Split: mean split "
        "index over seeds.\n\n";
  for (auto& [key, pts] : groups) {
    std::vector<std::pair<double, double>> all;
    for (auto& p : pts) all.push_back({p.ms, p.acc});
    const auto front = pareto_front(all);
    std::stable_sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) { return a.ms < b.ms; });
    md << "### " << key << "\n\n| total ms | test acc % | strategy | " << level_column(cells)
       << " | split | meets T | front |\n"
       << "|---|---|---|---|---|---|---|\n";
    for (auto& p : pts) {
      const bool on = std::find(front.begin(), front.end(), std::make_pair(p.ms, p.acc)) != front.end();
      md << "| " << fmt("%.3f", p.ms) << " | " << fmt("%.2f", p.acc) << (p.n > 1 ? fmt(" ± %.2f", p.std) : "")
         << " | " << p.strategy << " | " << p.f << " | " << fmt("%g", p.split) << " | "
         << (p.f == "–" ? "–" : cat(p.meets, "/", p.n)) << " | " << (on ? "yes" : "") << " |\n";
    }
    md << "\n";
  }
  return md.str();
}

// NASC against each other search that follows T, cell by cell, and how often it is ahead by more than the spread.
std::string head_to_head_tables(const std::vector<CellSummary>& cells) {
  std::ostringstream table;
  std::map<std::string, std::array<int, 4>> tally;  // baseline -> cells ahead, within, behind, all
  std::vector<std::string> order;
  for (auto& c : cells)
    for (const HeadToHead& h : head_to_head(c)) {
      if (!tally.count(h.baseline)) order.push_back(h.baseline);
      auto& t = tally[h.baseline];
      ++t[h.verdict() > 0 ? 0 : h.verdict() < 0 ? 2 : 1];
      ++t[3];
      const StrategySummary *n = c.find("nasc"), *b = c.find(h.baseline);
      table << "| " << c.scenario << " | " << c.privacy_floor << " | " << fmt("%g", c.bandwidth_mbps) << " | "
            << fmt("%g", c.threshold_level) << " | " << h.baseline << " | " << accuracy_cell(*n) << " | "
            << accuracy_cell(*b) << " | " << fmt("%.3f", n->total_ms) << " | " << fmt("%.3f", b->total_ms) << " | "
            << fmt("%+.2f", 100 * h.delta_mean) << (h.delta_std == h.delta_std ? fmt(" ± %.2f", 100 * h.delta_std) : "")
            << " | " << h.wins << "/" << h.seeds << " | " << fmt("%.2f", 100 * h.spread) << " | "
            << (h.verdict() > 0 ? "NASC ahead" : h.verdict() < 0 ? h.baseline + " ahead" : "within spread") << " |\n";
    }
  if (order.empty()) return "";
  std::ostringstream md;
  md << "\n## NASC against the other searches\n\n"
     << "Each cell's NASC runs against the same seeds of another search under the same T: Δacc = NASC's retrained "
        "accuracy − the other's, per seed (the seed fixes both retrainings' initialisation and data order), mean ± "
        "std; wins = seeds where NASC is more accurate; spread = the larger of the two strategies' seed standard "
        "deviations; a strategy is ahead when the mean Δacc exceeds the spread.\n\n";
  for (auto& b : order) {
    const auto& t = tally[b];
    md << "- against " << b << ": NASC ahead by more than the spread in " << t[0] << " of " << t[3]
       << " cells, within it in " << t[1] << ", behind by more in " << t[2] << ".\n";
  }
  md << "\n| scenario | floor | Mbit/s | " << level_column(cells) << " | against | NASC acc % | its acc % | NASC ms | its ms | Δacc pp | wins | "
        "spread pp | verdict |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
     << table.str();
  return md.str();
}

}  // namespace

// Long on purpose: it writes results.md top to bottom, one section after another, as a reader sees it.
namespace {

// Regret against the truth table, per constrained cell: the one measure that needs no retraining and has no
// retraining noise. Empty when no run was judged.
std::string truth_tables(const std::vector<CellSummary>& cells) {
  bool any = false;
  for (auto& c : cells)
    for (auto& s : c.strategies) any = any || s.judged > 0;
  if (!any) return "";
  std::vector<std::string> order;
  for (auto& c : cells)
    for (auto& s : c.strategies)
      if (c.constrained() && s.judged > 0 && std::find(order.begin(), order.end(), s.strategy) == order.end())
        order.push_back(s.strategy);
  std::ostringstream md;
  md << "## Regret against the truth table\n\n"
     << "Regret = best true accuracy of any allowed (architecture, split) that meets T − the answer's true "
        "accuracy, in points, mean ± sample standard deviation over seeds (0 is the optimum). Accuracies are the "
        "table's, not retrained.\n\n| scenario | floor | Mbit/s | " << level_column(cells) << " | T ms | best true acc % |";
  for (auto& s : order) md << " " << s << " |";
  md << "\n|---|---|---|---|---|---|";
  for (size_t i = 0; i < order.size(); ++i) md << "---|";
  md << "\n";
  for (auto& c : cells) {
    if (!c.constrained()) continue;
    double best = kNaN;
    for (auto& s : c.strategies)
      if (s.judged > 0) best = s.best_true_acc;
    if (best != best) continue;
    md << "| " << c.scenario << " | " << c.privacy_floor << " | " << fmt("%g", c.bandwidth_mbps) << " | "
       << fmt("%g", c.threshold_level) << " | " << fmt("%.3f", c.threshold_ms) << " | " << fmt("%.2f", best)
       << " |";
    for (auto& name : order) {
      const StrategySummary* s = c.find(name);
      md << " " << (s && s->judged > 0 ? fmt("%.2f", s->regret_mean) + " ± " + fmt("%.2f", s->regret_std) : "–")
         << " |";
    }
    md << "\n";
  }
  return md.str() + "\n";
}

}  // namespace

namespace {

// NASC's accuracy and latency against accuracy-only's, one row per cell; nothing when no cell has both (a quantile
// grid may leave accuracy-only out).
std::string nasc_table(const std::vector<CellSummary>& cells) {
  if (std::none_of(cells.begin(), cells.end(), [](const CellSummary& c) { return c.find("nasc") && c.find("accuracy-only"); }))
    return "";
  std::ostringstream md;
  md << "## NASC against accuracy-only\n\n"
     << "| scenario | server | floor | Mbit/s | " << level_column(cells) << " | T ms | NASC acc % | acc-only acc % | Δacc pp | NASC ms | "
        "acc-only ms | reduction |\n"
     << "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (auto& c : cells) {
    const StrategySummary* n = c.find("nasc");
    const StrategySummary* a = c.find("accuracy-only");
    if (!n || !a) continue;
    md << "| " << c.scenario << " | " << c.server_profile << " | " << c.privacy_floor << " | "
       << fmt("%g", c.bandwidth_mbps) << " | " << fmt("%g", c.threshold_level) << " | "
       << fmt("%.3f", c.threshold_ms) << " | " << accuracy_cell(*n) << " | " << accuracy_cell(*a) << " | "
       << fmt("%+.2f", 100 * (n->acc_mean - a->acc_mean)) << " | " << fmt("%.3f", n->total_ms) << " | "
       << fmt("%.3f", a->total_ms) << " | " << format_percent(latency_reduction(c, "nasc")) << " |\n";
  }

  return md.str();
}

// Every strategy of every cell, grouped by scenario and privacy floor.
std::string scenario_tables(const std::vector<CellSummary>& cells) {
  std::ostringstream md;
  std::string current;
  for (auto& c : cells) {
    std::string scen = cat("## Scenario ", c.scenario, ", privacy floor ", c.privacy_floor, " (server profile ",
                           c.server_profile, ")\n\n");
    if (scen != current) md << "\n" << scen;
    current = scen;
    md << cell_heading(c);
    const StrategySummary* ref = c.find("accuracy-only");
    md << "| strategy | n | test acc % | total ms | comm ms | device ms | server ms | payload B | split | meets T | "
          "Δacc pp | reduction |\n"
       << "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (auto& s : c.strategies) {
      md << "| " << s.strategy << " | " << s.n << " | " << accuracy_cell(s) << " | " << fmt("%.3f", s.total_ms)
         << " | " << fmt("%.3f", s.comm_ms) << " | " << fmt("%.3f", s.device_ms) << " | " << fmt("%.3f", s.server_ms)
         << " | " << fmt("%.0f", s.payload_bytes) << " | " << fmt("%g", s.split) << " | " << s.meets_threshold << "/"
         << s.n << " | " << (ref ? fmt("%+.2f", 100 * (s.acc_mean - ref->acc_mean)) : "–") << " | "
         << format_percent(latency_reduction(c, s.strategy)) << " |\n";
    }
    md << "\n";
  }

  return md.str();
}

// Wall time per strategy against one stand-alone training.
std::string cost_table(const std::vector<ResultRow>& rows, const CostRecord* cost) {
  std::ostringstream md;
  md << "## Search cost\n\n"
     << "Wall time to find a configuration (supernet training and scoring included; fixed networks need none), "
        "mean over runs, against training one stand-alone network of the space for the search's epochs.\n\n"
     << "| method | runs | seconds | × stand-alone training |\n|---|---|---|---|\n";
  std::vector<std::string> order;
  for (auto& r : rows)
    if (std::find(order.begin(), order.end(), r.strategy) == order.end()) order.push_back(r.strategy);
  for (auto& s : order) {
    std::vector<double> t;
    for (auto& r : rows)
      if (r.strategy == s) t.push_back(r.search_s);
    double m = mean(t);
    md << "| " << s << " search | " << t.size() << " | " << fmt("%.1f", m) << " | "
       << (cost && cost->seconds > 0 ? fmt("%.2f", m / cost->seconds) : "–") << " |\n";
  }
  if (cost)
    md << "| stand-alone training (" << cost->epochs << " epochs, " << cost->train_images << " images) | 1 | "
       << fmt("%.1f", cost->seconds) << " | 1.00 |\n";
  return md.str();
}

}  // namespace

std::string render_markdown(const std::vector<ResultRow>& rows, const CostRecord* cost, const std::string& title) {
  std::vector<CellSummary> cells = summarize(rows);
  std::set<uint64_t> seeds;
  for (auto& r : rows) seeds.insert(r.seed);
  std::ostringstream md;
  md << "# Experiment: " << title << "\n\n"
     << "Computed from results.csv (" << rows.size() << " runs, " << seeds.size() << " seed"
     << (seeds.size() == 1 ? "" : "s") << " per configuration). Accuracy: test accuracy in % after retraining from "
     << "scratch, mean ± sample standard deviation over seeds. Latencies: the model's estimate in ms (device + "
     << "uplink + server + downlink), means over seeds; comm = uplink + downlink. Thresholds: "
     << (std::string(level_column(cells)) == "q"
             ? "T = the q-quantile of the latency of the space's networks, each at its fastest allowed split; floor "
               "is the latency-minimal (architecture, split) of the space. "
             : "T = floor + f × (accuracy-only − floor), where floor is the latency-minimal (architecture, split) "
               "of the space. ")
     << "Reduction = 1 − latency of the strategy / latency of accuracy-only (means); Δacc = accuracy − "
     << "accuracy-only's, in percentage points.\n\n";

  md << nasc_table(cells);

  md << head_to_head_tables(cells);

  md << scenario_tables(cells);

  md << pareto_tables(cells);

  md << truth_tables(cells);

  md << cost_table(rows, cost);
  return md.str();
}

}  // namespace nasc
