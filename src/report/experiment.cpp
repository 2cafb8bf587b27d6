#include "report/experiment.h"

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <set>

#include "common/error.h"
#include "common/file_lock.h"
#include "data/data_spec.h"
#include "data/random.h"
#include "latency/estimator.h"
#include "latency/link_trace.h"
#include "latency/trace_latency.h"
#include "nn/device.h"
#include "report/plots.h"
#include "report/tables.h"
#include "search/budget.h"
#include "search/strategy.h"
#include "train/trainer.h"

namespace nasc {

namespace fs = std::filesystem;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::string path_safe(const std::string& s) {
  std::string o;
  for (char c : s) o += (std::isalnum((unsigned char)c) || c == '-' || c == '.') ? c : '_';
  return o;
}

std::string g(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string hex16(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)v);
  return buf;
}

double json_num_or_nan(const json& j) { return j.is_number() ? j.get<double>() : kNaN; }

}  // namespace

namespace {

// What a finished run depends on beyond its own directory name; a different value makes old results stale.
json fingerprint(const ExperimentConfig& c, const Space& space) {
  json s = c.search.to_json(), r = c.retrain.to_json();
  s.erase("seed");
  r.erase("seed");
  json fp = {{"space", space.config().to_json()}, {"data", c.data},       {"encoding", c.encoding},
             {"delay_ms", c.delay_ms},            {"return_result", c.return_result}, {"search", s},
             {"retrain", r}};
  if (c.retrain_as_deployed) fp["retrain_as_deployed"] = true;  // absent while off: older folders stay valid
  if (!c.truth.empty()) fp["truth"] = hex16(fnv1a(read_json_file(c.truth).dump()));  // the table's content
  return fp;
}

struct LoadedScenario {
  const ScenarioSpec* spec;
  HardwareProfile device, server;
  std::optional<LinkTrace> uplink;  // spec->link_trace, loaded
  // What search.json records of the trace, so that a finished run is reused only over the same one.
  json trace_record() const {
    return uplink ? json{{"file", spec->link_trace}, {"quantile", spec->latency_quantile}} : json();
  }
};

struct RunSpec {
  const LoadedScenario* scenario;
  int floor;
  double bandwidth;
  double fraction = kNaN;  // NaN: unconstrained
  double threshold = kInf;
  double floor_ms = 0;
  Strategy strategy;
  uint64_t seed;
  std::string rel;  // run directory, relative to the experiment directory
  double quantile = kNaN;  // set instead of fraction when T is a quantile of the space's latency
};

// Hard links where possible: checkpoints are replaced by rename, never rewritten in place, so sharing is safe.
void link_tree(const fs::path& from, const fs::path& to) {
  fs::path tmp = to.string() + ".tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  for (auto& e : fs::directory_iterator(from)) {
    std::error_code ec;
    fs::create_hard_link(e.path(), tmp / e.path().filename(), ec);
    if (ec) fs::copy_file(e.path(), tmp / e.path().filename(), fs::copy_options::overwrite_existing);
  }
  fs::rename(tmp, to);
}

class Runner {
 public:
  // data may be null for a Runner that only collects finished runs.
  Runner(const ExperimentConfig& cfg, const std::string& out, torch::Device device, const Space& space,
         const TrainTest* data, const TruthTable* truth = nullptr)
      : cfg_(cfg), out_(out), device_(device), space_(space), data_(data), truth_(truth) {}

  // Makes (or reads back) one run, under its lock.
  ResultRow run(const RunSpec& rs, const LatencyEstimator& est);
  // Reads back one finished, still valid run; nullopt when it is not there (yet).
  std::optional<ResultRow> collect(const RunSpec& rs, const LatencyEstimator& est) const;
  CostRecord standalone_cost();
  ExperimentStats stats;
  int total = 0, done = 0;

 private:
  json search(const RunSpec& rs, const LatencyEstimator& est, const fs::path& dir);
  json retrain(const std::string& arch, int split, uint64_t seed);
  bool reusable(const json& found, const RunSpec& rs, const LatencyEstimator& est) const;
  void note(const RunSpec& rs, const std::string& what);

  const ExperimentConfig& cfg_;
  fs::path out_;
  torch::Device device_;
  const Space& space_;
  const TrainTest* data_;
  const TruthTable* truth_;  // when set, answers it covers are judged by it instead of retrained
  const TrainTest& data() const {
    if (!data_) fail("internal: a collecting experiment runner cannot train");
    return *data_;
  }
};

void Runner::note(const RunSpec& rs, const std::string& what) {
  std::fprintf(stderr, "[%d/%d] %s: %s\n", done + 1, total, rs.rel.c_str(), what.c_str());
}

bool Runner::reusable(const json& f, const RunSpec& rs, const LatencyEstimator& est) const {
  if (f.value("strategy", "") != rs.strategy.name() || f.value("seed", uint64_t(0)) != rs.seed) return false;
  if (f.value("min_device_blocks", -1) != rs.floor || f.value("link", json()) != est.link().to_json()) return false;
  if (f.value("link_trace", json()) != rs.scenario->trace_record()) return false;
  if (f.value("device_profile", "") != rs.scenario->spec->device_profile ||
      f.value("server_profile", "") != rs.scenario->spec->server_profile)
    return false;
  const json& t = f.contains("max_latency_ms") ? f["max_latency_ms"] : json();
  if (std::isinf(rs.threshold)) return t.is_null();
  return t.is_number() && std::fabs(t.get<double>() - rs.threshold) <= 1e-9 * std::max(1.0, rs.threshold);
}

json Runner::search(const RunSpec& rs, const LatencyEstimator& est, const fs::path& dir) {
  SearchRequest req;
  req.strategy = rs.strategy;
  req.max_latency_ms = rs.threshold;
  req.min_device_blocks = rs.floor;
  req.options = cfg_.search;
  req.options.seed = rs.seed;
  req.truth = truth_;
  // Supernets that the threshold and the hardware cannot influence are trained once and shared (accuracy-only's:
  // no constraint, no cut; random search's: never adapted, only the scoring sees T); the strategy says which.
  std::string shared = rs.strategy.shared_supernet(rs.floor);
  if (!shared.empty()) shared = cat(shared, "/seed", rs.seed);
  fs::create_directories(dir);
  if (!shared.empty()) {
    fs::path sdir = out_ / "shared" / shared;
    FileLock lock(sdir.string() + ".lock");  // runs of several shards may share this supernet
    if (!fs::exists(sdir / "search.json")) {
      note(rs, "training the shared supernet in " + fs::relative(sdir, out_).string());
      const SearchRequest sreq = shared_supernet_request(req);
      fs::create_directories(sdir);
      json s = run_strategy(sreq, space_, est, data().train, device_, sdir.string(), true);
      write_search_result(sdir.string(), s);
      ++stats.searches_run;
    }
    if (!fs::exists(dir / "checkpoint")) link_tree(sdir / "checkpoint", dir / "checkpoint");
  }
  // Seconds of supernet training already in the checkpoint: the run's cost includes them even when this
  // process only loads them (a resumed or shared search).
  double before = 0;
  if (fs::exists(dir / "checkpoint" / "state.json"))
    before = read_json_file((dir / "checkpoint" / "state.json").string()).value("seconds", 0.0);
  note(rs, before > 0 ? "continuing the search from its checkpoint" : "searching");
  json r = run_strategy(req, space_, est, data().train, device_, dir.string(), true);
  ++stats.searches_run;
  r["search_cost_seconds"] = r["timings"]["total_seconds"].get<double>() + before;
  if (!shared.empty()) r["supernet_from"] = (fs::path("shared") / shared).string();
  r["scenario"] = rs.scenario->spec->name;
  r["device_profile"] = rs.scenario->spec->device_profile;
  r["server_profile"] = rs.scenario->spec->server_profile;
  if (rs.scenario->uplink) r["link_trace"] = rs.scenario->trace_record();
  r["data"] = cfg_.data;
  r["threshold_fraction"] = std::isnan(rs.fraction) ? json(nullptr) : json(rs.fraction);
  if (!std::isnan(rs.quantile)) r["threshold_quantile"] = rs.quantile;
  r["device"] = device_description(device_);
  r["versions"] = library_versions();
  write_search_result(dir.string(), r);
  fs::remove_all(dir / "checkpoint");  // it only served resumption; search.json is the result
  return r;
}

// Retraining depends on the architecture, the seed and the recipe only (and the split when retrained as
// deployed), so runs that found the same network share one training (the fixed networks always do).
json Runner::retrain(const std::string& arch_text, int split, uint64_t seed) {
  TrainOptions o = cfg_.retrain;
  o.seed = seed;
  if (cfg_.retrain_as_deployed) {
    o.payload_split = split;
    o.payload_encoding = cfg_.encoding;
  }
  json key = {{"space", space_.config().to_json()}, {"arch", arch_text}, {"options", o.to_json()}, {"data", cfg_.data}};
  fs::path rdir = out_ / "retrain" / hex16(fnv1a(key.dump()));
  FileLock lock(rdir.string() + ".lock");  // runs of several shards may have found this network
  if (fs::exists(rdir / "result.json")) {
    json r = read_json_file((rdir / "result.json").string());
    if (r.value("key", json()) == key) {
      ++stats.retrains_reused;
      r["dir"] = fs::relative(rdir, out_).string();
      return r;
    }
    fs::remove_all(rdir);  // a hash collision or a stale directory: train again
  }
  Arch arch = space_.parse_arch(arch_text);
  std::fprintf(stderr, "retraining %s (seed %llu, %d epochs) in %s\n", arch_text.c_str(), (unsigned long long)seed,
               o.epochs, fs::relative(rdir, out_).string().c_str());
  fs::create_directories(rdir);
  Trainer trainer(space_, arch, o, device_);
  TrainResult tr = trainer.run(data(), rdir.string(), true);
  json r = training_record(trainer, tr, DataSpec::parse(cfg_.data), device_, rdir.string());
  r["key"] = key;
  r["seconds"] = tr.seconds;
  write_json_atomic((rdir / "result.json").string(), r);
  fs::remove_all(rdir / "checkpoint");
  ++stats.retrains_run;
  r["dir"] = fs::relative(rdir, out_).string();
  return r;
}

// One row of results.csv from a run's search.json and retrain.json.
ResultRow result_row(const RunSpec& rs, const json& found, const std::string& ctx, const json& rt,
                     const std::string& rt_ctx) {
  const json& lat = found.at("latency");
  ResultRow row;
  row.scenario = rs.scenario->spec->name;
  row.device_profile = fs::path(rs.scenario->spec->device_profile).stem().string();
  row.server_profile = fs::path(rs.scenario->spec->server_profile).stem().string();
  row.privacy_floor = rs.floor;
  row.bandwidth_mbps = rs.bandwidth;
  row.threshold_fraction = rs.fraction;
  row.threshold_quantile = rs.quantile;
  row.threshold_ms = std::isinf(rs.threshold) ? kNaN : rs.threshold;
  row.floor_ms = rs.floor_ms;
  row.strategy = rs.strategy.name();
  row.seed = rs.seed;
  row.arch = json_get<std::string>(found, "arch", ctx);
  row.split = json_get<int>(found, "split", ctx);
  row.payload_bytes = json_get<int64_t>(found, "payload_bytes", ctx);
  row.device_ms = json_get<double>(lat, "device_ms", ctx);
  row.uplink_ms = json_get<double>(lat, "uplink_ms", ctx);
  row.server_ms = json_get<double>(lat, "server_ms", ctx);
  row.downlink_ms = json_get<double>(lat, "downlink_ms", ctx);
  row.total_ms = json_get<double>(lat, "total_ms", ctx);
  row.feasible = json_get<bool>(found, "feasible", ctx);
  row.supernet_val_acc = json_num_or_nan(found.value("supernet_val_acc", json()));
  row.test_acc = json_get<double>(rt, "test_accuracy", rt_ctx);
  row.search_s = json_get<double>(found, "search_cost_seconds", ctx);
  row.retrain_s = json_get<double>(rt, "seconds", rt_ctx);
  row.run_dir = rs.rel;
  if (found.contains("truth")) {
    const json& t = found["truth"];
    row.true_acc = json_num_or_nan(t.value("true_acc", json()));
    row.best_true_acc = json_num_or_nan(t.value("best_true_acc", json()));
    row.regret = json_num_or_nan(t.value("regret", json()));
  }
  return row;
}

std::optional<ResultRow> Runner::collect(const RunSpec& rs, const LatencyEstimator& est) const {
  const fs::path dir = out_ / rs.rel;
  if (!fs::exists(dir / "search.json") || !fs::exists(dir / "retrain.json")) return std::nullopt;
  const json found = read_json_file((dir / "search.json").string());
  if (!reusable(found, rs, est)) return std::nullopt;
  return result_row(rs, found, (dir / "search.json").string(), read_json_file((dir / "retrain.json").string()),
                    (dir / "retrain.json").string());
}

ResultRow Runner::run(const RunSpec& rs, const LatencyEstimator& est) {
  fs::path dir = out_ / rs.rel;
  FileLock lock(dir.string() + ".lock");  // another shard may be making this run: wait, then read it back
  json found;
  bool have = false;
  if (fs::exists(dir / "search.json")) {
    found = read_json_file((dir / "search.json").string());
    have = reusable(found, rs, est);
    if (!have) {
      note(rs, "stale result (threshold, link or profiles changed): running again");
      fs::remove_all(dir);
    }
  }
  json rt;
  if (have && fs::exists(dir / "retrain.json")) {
    rt = read_json_file((dir / "retrain.json").string());
    ++stats.runs_reused;
  } else {
    if (!have) {
      try {
        found = search(rs, est, dir);
      } catch (const Error& e) {
        fail(rs.rel, ": ", e.what());
      }
    }
    std::string arch = json_get<std::string>(found, "arch", (dir / "search.json").string());
    const std::optional<double> true_acc = truth_ ? truth_->accuracy(space_.parse_arch(arch)) : std::nullopt;
    if (true_acc) {
      // The table holds this network's accuracy from full training: retraining it here would only add noise.
      rt = {{"arch", arch}, {"seed", rs.seed}, {"test_accuracy", *true_acc / 100}, {"seconds", 0.0},
            {"source", truth_->source()}};
    } else {
      json r = retrain(arch, json_get<int>(found, "split", (dir / "search.json").string()), rs.seed);
      rt = {{"arch", arch},
            {"seed", rs.seed},
            {"test_accuracy", r["test_accuracy"]},
            {"seconds", r["seconds"]},
            {"epochs", r["options"]["epochs"]},
            {"retrain_dir", r["dir"]}};
    }
    write_json_atomic((dir / "retrain.json").string(), rt);
  }
  ++done;
  return result_row(rs, found, (dir / "search.json").string(), rt, (dir / "retrain.json").string());
}

// The reference cost: a stand-alone network trained for the search's epochs on as many images as the search
// trains its supernet weights on (the rest of the search's images score configurations).
CostRecord Runner::standalone_cost() {
  const SearchOptions& s = cfg_.search;
  int64_t n = s.train_limit > 0 ? std::min<int64_t>(s.train_limit, data().train.size()) : data().train.size();
  int64_t weights = n - int64_t(train_val_indices(n, s.val_fraction, cfg_.seeds.front()).val.size());
  TrainOptions o;
  o.epochs = s.epochs;
  o.batch_size = s.batch_size;
  o.lr = s.lr;
  o.momentum = s.momentum;
  o.weight_decay = s.weight_decay;
  o.label_smoothing = 0;  // the supernet's loss has none
  o.augment = s.augment;
  o.train_limit = weights;
  o.test_limit = s.eval_limit;
  o.seed = cfg_.seeds.front();
  CostRecord c;
  c.space = space_.name();
  c.arch = space_.format_arch(space_.default_arch());
  c.epochs = o.epochs;
  c.train_images = weights;
  fs::path dir = out_ / "cost" / "standalone";
  FileLock lock(dir.string() + ".lock");
  json key = {{"arch", c.arch}, {"options", o.to_json()}};
  if (fs::exists(dir / "result.json")) {
    json r = read_json_file((dir / "result.json").string());
    if (r.value("key", json()) == key) {
      c.seconds = json_get<double>(r, "seconds", (dir / "result.json").string());
      return c;
    }
  }
  std::fprintf(stderr, "search-cost reference: training the default architecture of %s for %d epochs on %lld images\n",
               space_.name().c_str(), o.epochs, (long long)weights);
  fs::remove_all(dir);
  fs::create_directories(dir);
  Trainer trainer(space_, space_.default_arch(), o, device_);
  TrainResult tr = trainer.run(data(), dir.string(), true);
  c.seconds = tr.seconds;
  write_json_atomic((dir / "result.json").string(), {{"key", key},
                                                     {"seconds", tr.seconds},
                                                     {"test_accuracy", tr.test_accuracy},
                                                     {"device", device_description(device_)}});
  fs::remove_all(dir / "checkpoint");
  ++stats.retrains_run;
  return c;
}

}  // namespace

namespace {

// An output folder is reused only by the experiment that made it (a changed setting would mix two experiments).
void require_same_experiment(const fs::path& record, const json& fp, const std::string& out_dir) {
  if (!fs::exists(record)) return;
  json old = read_json_file(record.string()).value("fingerprint", json());
  for (auto& [k, v] : fp.items())
    if (old.value(k, json()) != v)
      fail(out_dir, " holds an experiment made with a different '", k, "' setting (", old.value(k, json()).dump(),
           "); choose another --out or restore that setting");
}

// The scenarios whose profiles exist (an optional one without them is skipped). `locate` maps a profile path to
// the file to read; the path itself stays as written, since finished runs record it.
std::vector<LoadedScenario> load_scenarios(const ExperimentConfig& cfg, const Space& space, ExperimentStats& stats,
                                           const std::function<std::string(const std::string&)>& locate) {
  std::vector<LoadedScenario> scenarios;
  for (auto& s : cfg.scenarios) {
    const std::string dev = locate(s.device_profile), srv = locate(s.server_profile);
    const std::string trace = s.link_trace.empty() ? std::string() : locate(s.link_trace);
    if (s.optional && (!fs::exists(dev) || !fs::exists(srv) || (!trace.empty() && !fs::exists(trace)))) {
      std::fprintf(stderr, "scenario %s skipped: %s not found (optional)\n", s.name.c_str(),
                   (!fs::exists(dev) ? s.device_profile : !fs::exists(srv) ? s.server_profile : s.link_trace).c_str());
      stats.skipped_scenarios.push_back(s.name);
      continue;
    }
    try {
      scenarios.push_back({&s, HardwareProfile::load(dev), HardwareProfile::load(srv), std::nullopt});
      scenarios.back().device.require(space);
      scenarios.back().server.require(space);
      if (!trace.empty()) scenarios.back().uplink = LinkTrace::load(trace);
    } catch (const Error& e) {
      fail("scenario ", s.name, ": ", e.what());
    }
  }
  if (scenarios.empty()) fail("no scenario of experiment ", cfg.name, " has its profiles; expected at least one");
  return scenarios;
}

// Makes or reads back one run; nullopt when it is not available. `baseline`: an unconstrained run whose latency
// places its cell's thresholds.
using Visit = std::function<std::optional<ResultRow>(const RunSpec&, const LatencyEstimator&, int index, bool baseline)>;

// The grid in its fixed order: per (scenario, privacy floor, bandwidth) cell, the unconstrained baseline first
// (threshold fractions are placed relative to its mean latency; a quantile grid runs it only when listed), then
// every constrained strategy at every threshold. A cell whose baseline is incomplete cannot place fractions:
// their runs count as missing.
class GridWalk {
 public:
  GridWalk(const ExperimentConfig& cfg, const Space& space, const std::vector<LoadedScenario>& scenarios)
      : cfg_(cfg), space_(space), scenarios_(scenarios), accuracy_only_(Strategy::parse("accuracy-only", space)) {
    for (auto& s : cfg.strategies)
      if (s != "accuracy-only")
        constrained_.push_back(Strategy::parse(s, space));
      else
        unconstrained_ = true;
  }
  int total() const {
    int cells = 0;
    for (auto& sc : scenarios_) cells += sc.uplink ? 1 : int(cfg_.bandwidths_mbps.size());
    return int(cells * cfg_.min_device_blocks.size() * cfg_.seeds.size() *
               (int(unconstrained_) + cfg_.num_thresholds() * constrained_.size()));
  }

  void walk(const Visit& visit, std::vector<ResultRow>& rows, std::vector<std::string>& missing) const {
    int index = 0;
    const Encoding enc = parse_encoding(cfg_.encoding);
    for (auto& sc : scenarios_)
      for (int floor : cfg_.min_device_blocks) {
        auto link = [&](double bw) { return LinkModel{bw, bw, cfg_.delay_ms, cfg_.return_result}; };
        if (sc.uplink) {  // one cell, its rows at the trace's mean rate
          const double mean = sc.uplink->mean_mbps();
          const LatencyEstimator est = quantile_estimator(
              LatencyEstimator(space_, sc.device, sc.server, link(mean), enc), *sc.uplink, sc.spec->latency_quantile);
          walk_cell(sc, floor, mean, "trace", est, index, visit, rows, missing);
          continue;
        }
        for (double bw : cfg_.bandwidths_mbps)
          walk_cell(sc, floor, bw, cat("bw", g(bw)), LatencyEstimator(space_, sc.device, sc.server, link(bw), enc),
                    index, visit, rows, missing);
      }
  }

 private:
  void walk_cell(const LoadedScenario& sc, int floor, double bw, const std::string& link_cell,
                 const LatencyEstimator& est, int& index, const Visit& visit, std::vector<ResultRow>& rows,
                 std::vector<std::string>& missing) const {
    const double floor_ms = est.oracle(floor).latency.total_ms;
    const std::string cell = cat("runs/", sc.spec->name, "/floor", floor, "/", link_cell);
    double baseline = 0;
    bool complete = true;
    // A quantile grid without accuracy-only has no baseline: nothing is placed on it.
    if (unconstrained_)
      for (uint64_t seed : cfg_.seeds) {
        RunSpec rs{&sc, floor, bw, kNaN, kInf, floor_ms, accuracy_only_, seed,
                   cat(cell, "/unconstrained/accuracy-only/seed", seed)};
        std::optional<ResultRow> row = visit(rs, est, index++, true);
        if (row) {
          baseline += row->total_ms / double(cfg_.seeds.size());
          rows.push_back(*row);
        } else {
          complete = false;
          missing.push_back(rs.rel);
        }
      }
    // Each threshold: its fraction or quantile, T, and whether it can be placed yet (a fraction needs the baseline).
    struct Threshold {
      double fraction, quantile, T;
      std::string dir;
      bool placed;
    };
    std::vector<Threshold> thresholds;
    for (double f : cfg_.threshold_fractions)
      thresholds.push_back({f, kNaN, threshold_between(floor_ms, baseline, f), cat("f", g(f)), complete});
    for (double q : cfg_.threshold_quantiles)
      thresholds.push_back({kNaN, q, latency_quantile_ms(est, floor, q), cat("q", g(q)), true});
    for (const Threshold& t : thresholds) {
      for (auto& st : constrained_)
        for (uint64_t seed : cfg_.seeds) {
          RunSpec rs{&sc, floor, bw, t.fraction, t.T, floor_ms, st, seed,
                     cat(cell, "/", t.dir, "/", path_safe(st.name()), "/seed", seed), t.quantile};
          std::optional<ResultRow> row;
          const int i = index++;
          if (t.placed) row = visit(rs, est, i, false);
          if (row)
            rows.push_back(*row);
          else
            missing.push_back(rs.rel);
        }
    }
  }

  const ExperimentConfig& cfg_;
  const Space& space_;
  const std::vector<LoadedScenario>& scenarios_;
  Strategy accuracy_only_;
  bool unconstrained_ = false;  // accuracy-only is listed (always with fractions: they are placed on it)
  std::vector<Strategy> constrained_;
};

// results.csv, cost.csv (when known), results.md and plots/ from the finished runs.
void write_outputs(const fs::path& out, const ExperimentConfig& cfg, const GridWalk& grid, const Runner& runner,
                   const std::optional<CostRecord>& cost, ExperimentStats& stats) {
  std::vector<ResultRow> rows;
  grid.walk([&](const RunSpec& rs, const LatencyEstimator& est, int, bool) { return runner.collect(rs, est); }, rows,
            stats.missing);
  stats.runs = int(rows.size());
  stats.total = grid.total();
  FileLock lock((out / "results.lock").string());  // shards finishing together write one after the other
  write_results_csv((out / "results.csv").string(), rows);
  if (cost) write_cost_csv((out / "cost.csv").string(), *cost);
  if (!rows.empty()) stats.plots = write_reports(out.string(), cfg.name);
}

}  // namespace

GridShare GridShare::parse(const std::string& text) {
  GridShare s;
  char extra = 0;
  if (std::sscanf(text.c_str(), "%d/%d%c", &s.index, &s.count, &extra) != 2 || s.count < 1 || s.index < 1 ||
      s.index > s.count)
    fail("--shard '", text, "': expected K/N with 1 <= K <= N, e.g. 2/8");
  return s;
}

ExperimentStats run_experiment(const ExperimentConfig& cfg, const std::string& out_dir, torch::Device device,
                               const GridShare& share) {
  Space space(SpaceConfig::load(cfg.space));
  fs::path out(out_dir);
  json fp = fingerprint(cfg, space);
  fs::path record = out / "experiment.json";
  require_same_experiment(record, fp, out_dir);

  // Everything that can fail on bad input is checked before the first run, so that a typo in a profile path or
  // a profile lacking a key of the space stops the experiment before hours of searching, not after.
  ExperimentStats stats;
  parse_encoding(cfg.encoding);
  std::vector<LoadedScenario> scenarios = load_scenarios(cfg, space, stats, [](const std::string& p) { return p; });
  std::optional<TruthTable> truth;
  if (!cfg.truth.empty()) truth = TruthTable::load(cfg.truth, space);
  TrainTest data = load_train_test(DataSpec::parse(cfg.data), space.input_shape().h, space.input_shape().w);
  require_data_fits(space, data.train, cfg.data);

  fs::create_directories(out);
  write_json_atomic(record.string(), {{"fingerprint", fp},
                                      {"config", cfg.to_json()},
                                      {"device", device_description(device)},
                                      {"versions", library_versions()}});

  GridWalk grid(cfg, space, scenarios);
  Runner runner(cfg, out.string(), device, space, &data, truth ? &*truth : nullptr);
  runner.total = grid.total();
  std::vector<ResultRow> rows;
  std::vector<std::string> ignored;
  // A shard first makes the baselines it owns, so that the others, which need them for their thresholds, seldom
  // wait; then its constrained runs, making (or waiting for) the baselines of their cells.
  if (share.count > 1)
    grid.walk([&](const RunSpec& rs, const LatencyEstimator& est, int i, bool baseline) -> std::optional<ResultRow> {
      if (baseline && share.owns(i)) return runner.run(rs, est);
      return std::nullopt;
    }, rows, ignored);
  grid.walk([&](const RunSpec& rs, const LatencyEstimator& est, int i, bool baseline) -> std::optional<ResultRow> {
    if (baseline || share.owns(i)) return runner.run(rs, est);
    return std::nullopt;
  }, rows, ignored);
  CostRecord cost = runner.standalone_cost();
  stats.runs_reused = runner.stats.runs_reused;
  stats.searches_run = runner.stats.searches_run;
  stats.retrains_run = runner.stats.retrains_run;
  stats.retrains_reused = runner.stats.retrains_reused;
  write_outputs(out, cfg, grid, runner, cost, stats);
  return stats;
}

ExperimentStats report_experiment(const std::string& out_dir, const std::vector<std::string>& search_dirs) {
  const fs::path out(out_dir);
  const fs::path record = out / "experiment.json";
  if (!fs::exists(record))
    fail(out_dir, ": no experiment.json (expected the --out folder of a nasc experiment run)");
  const json rec = read_json_file(record.string());
  const ExperimentConfig cfg = ExperimentConfig::from_json(json_member(rec, "config", record.string()), record.string());
  auto locate = [&](const std::string& p) {
    if (fs::path(p).is_absolute() || fs::exists(p)) return p;
    for (auto& d : search_dirs)
      if (fs::exists(fs::path(d) / p)) return (fs::path(d) / p).string();
    return p;
  };
  Space space(SpaceConfig::load(locate(cfg.space)));
  ExperimentStats stats;
  std::vector<LoadedScenario> scenarios = load_scenarios(cfg, space, stats, locate);
  GridWalk grid(cfg, space, scenarios);
  Runner runner(cfg, out.string(), torch::kCPU, space, nullptr);
  std::optional<CostRecord> cost;
  if (fs::exists(out / "cost.csv")) cost = read_cost_csv((out / "cost.csv").string());
  write_outputs(out, cfg, grid, runner, cost, stats);
  return stats;
}

std::vector<std::string> write_reports(const std::string& out_dir, const std::string& title) {
  fs::path out(out_dir);
  std::vector<ResultRow> rows = read_results_csv((out / "results.csv").string());
  if (rows.empty()) fail((out / "results.csv").string(), ": no runs to report");
  CostRecord cost;
  bool have_cost = fs::exists(out / "cost.csv");
  if (have_cost) cost = read_cost_csv((out / "cost.csv").string());
  write_text_atomic((out / "results.md").string(), render_markdown(rows, have_cost ? &cost : nullptr, title));
  return write_plots(rows, (out / "plots").string()).images;
}

}  // namespace nasc
