#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "../latency/latency_fixtures.h"
#include "common/error.h"
#include "deploy/export.h"
#include "latency/link_trace.h"
#include "latency/trace_latency.h"
#include "report/experiment.h"
#include "report/plots.h"
#include "report/tables.h"
#include "search/budget.h"

using namespace nasc;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("nasc_experiment_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// A slow device and a fast server with seeded per-key latencies: enough spread that thresholds between the floor
// and the unconstrained baseline exclude part of the space.
void write_profile(const Space& space, uint32_t seed, double lo, double hi, const std::string& cls,
                   const fs::path& path) {
  HardwareProfile p = test::random_profile(space, seed, lo, hi);
  p.meta() = ProfileMeta::from_json(test::test_metadata(cls), "test metadata");
  p.save(path.string());
}

// configs/mini.json copied into `dir` with the two profiles it names beside it.
ExperimentConfig mini_config(const fs::path& dir) {
  fs::copy_file(fs::path(NASC_SOURCE_DIR) / "configs" / "mini.json", dir / "mini.json",
                fs::copy_options::overwrite_existing);
  Space tiny(SpaceConfig::preset("tiny"));
  write_profile(tiny, 11, 0.5, 2.0, "device", dir / "mini-device.json");
  write_profile(tiny, 12, 0.05, 0.2, "server", dir / "mini-server.json");
  return ExperimentConfig::load((dir / "mini.json").string());
}

std::map<std::string, fs::file_time_type> result_mtimes(const fs::path& out) {
  std::map<std::string, fs::file_time_type> m;
  for (auto& e : fs::recursive_directory_iterator(out))
    if (e.path().filename() == "search.json" || e.path().filename() == "result.json")
      m[e.path().string()] = fs::last_write_time(e.path());
  return m;
}

std::string config_error(const json& j) {
  try {
    ExperimentConfig::from_json(j, "cfg.json");
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an Error for " << j.dump();
  return "";
}

std::string pct(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * fraction);
  return buf;
}

// The summary row of results.md for threshold fraction f (the rows start with the scenario, so match on "| f |").
std::string summary_row(const std::string& md, double f) {
  char key[32];
  std::snprintf(key, sizeof key, "| %g |", f);
  size_t at = md.find(key, md.find("## NASC against accuracy-only"));
  if (at == std::string::npos) return "";
  size_t begin = md.rfind('\n', at) + 1;
  return md.substr(begin, md.find('\n', at) - begin);
}

// A hand-made results.csv row of scenario "s" at 10 Mbit/s: floor 1 ms, T = 1 + 7 f ms (NaN f: unconstrained).
ResultRow hand_row(const std::string& strategy, double f, uint64_t seed, double total_ms, double acc) {
  ResultRow r;
  r.scenario = "s";
  r.device_profile = "dev";
  r.server_profile = "srv";
  r.bandwidth_mbps = 10;
  r.floor_ms = 1;
  r.threshold_fraction = f;
  r.threshold_ms = std::isnan(f) ? kNaN : 1 + f * 7;
  r.strategy = strategy;
  r.seed = seed;
  r.arch = "k3_e6,skip";
  r.split = 3;
  r.device_ms = total_ms;
  r.total_ms = total_ms;
  r.test_acc = acc;
  return r;
}

}  // namespace

// The whole pipeline on the tiny space: 1 scenario x 1 privacy floor x 1 bandwidth x 2 thresholds (two cells),
// 2 seeds, 512 search and retraining images, one epoch each.
TEST(Experiment, MiniatureRunsEndToEndAndReusesFinishedRuns) {
  fs::path dir = temp_dir("mini");
  ExperimentConfig cfg = mini_config(dir);
  fs::path out = dir / "out";

  auto t0 = std::chrono::steady_clock::now();
  ExperimentStats first = run_experiment(cfg, out.string(), torch::kCPU);
  double first_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Per seed: accuracy-only once (it sets the thresholds), then nasc, fixed:k3_e6 and random:4 in each cell.
  const int expected_rows = 2 * (1 + 2 * 3);
  EXPECT_EQ(first.runs, expected_rows);
  EXPECT_EQ(first.runs_reused, 0);
  EXPECT_GT(first.searches_run, 0);
  EXPECT_GT(first.retrains_run, 0);
  EXPECT_GT(first.retrains_reused, 0) << "fixed:k3_e6 is the same network in both cells: trained once per seed";

  // results.csv: the header, one row per (cell, strategy, seed), latencies that add up, thresholds placed between
  // the floor and accuracy-only's mean latency.
  EXPECT_EQ(first_line(read_text(out / "results.csv")),
            "scenario,device_profile,server_profile,privacy_floor,bandwidth_mbps,threshold_fraction,threshold_ms,"
            "floor_ms,strategy,seed,arch,split,payload_bytes,device_ms,uplink_ms,server_ms,downlink_ms,total_ms,"
            "feasible,supernet_val_acc,test_acc,search_s,retrain_s,run_dir,true_acc,best_true_acc,regret,"
            "threshold_quantile");
  std::vector<ResultRow> rows = read_results_csv((out / "results.csv").string());
  ASSERT_EQ(int(rows.size()), expected_rows);
  std::map<std::string, int> per_strategy;
  std::map<std::pair<std::string, double>, int> per_cell;
  double acc_only_mean = 0;
  for (auto& r : rows) {
    ++per_strategy[r.strategy];
    if (r.constrained()) ++per_cell[{r.strategy, r.threshold_fraction}];
    EXPECT_EQ(r.scenario, "synthetic");
    EXPECT_EQ(r.server_profile, "mini-server");
    EXPECT_EQ(r.privacy_floor, 1);
    EXPECT_EQ(r.bandwidth_mbps, 10);
    EXPECT_TRUE(r.seed == 1 || r.seed == 2) << r.seed;
    EXPECT_GE(r.split, 1) << "privacy floor";
    EXPECT_NEAR(r.total_ms, r.device_ms + r.uplink_ms + r.server_ms + r.downlink_ms, 1e-6);
    EXPECT_GE(r.total_ms, r.floor_ms - 1e-9);
    EXPECT_GT(r.test_acc, 0.0) << r.strategy << ": one epoch on 512 images need not beat chance, but it scores";
    EXPECT_LE(r.test_acc, 1.0);
    EXPECT_GT(r.retrain_s, 0);
    EXPECT_TRUE(fs::exists(out / r.run_dir / "search.json")) << r.run_dir;
    EXPECT_TRUE(fs::exists(out / r.run_dir / "retrain.json")) << r.run_dir;
    {  // every retrained network is a train run that nasc export can cut
      const json rt = read_json_file((out / r.run_dir / "retrain.json").string());
      const TrainedRun trained = TrainedRun::load((out / rt.at("retrain_dir").get<std::string>()).string());
      EXPECT_EQ(trained.result.at("arch"), r.arch);
      EXPECT_DOUBLE_EQ(trained.result.at("test_accuracy").get<double>(), r.test_acc);
    }
    EXPECT_NE(r.arch.find(','), std::string::npos) << "architectures round-trip through CSV quoting";
    if (r.strategy == "accuracy-only") {
      EXPECT_TRUE(std::isnan(r.threshold_ms));
      acc_only_mean += r.total_ms / 2;
    }
    if (r.strategy == "fixed:k3_e6") EXPECT_TRUE(std::isnan(r.supernet_val_acc));
    if (r.strategy == "nasc") {
      EXPECT_GT(r.search_s, 0);
      EXPECT_FALSE(std::isnan(r.supernet_val_acc));
    }
  }
  EXPECT_EQ(per_strategy["accuracy-only"], 2);
  for (const char* s : {"nasc", "fixed:k3_e6", "random:4"})
    for (double f : {0.6, 0.9}) EXPECT_EQ((per_cell[{s, f}]), 2) << s << " f=" << f;
  for (auto& r : rows) {
    if (!r.constrained()) continue;
    EXPECT_NEAR(r.threshold_ms, r.floor_ms + r.threshold_fraction * (acc_only_mean - r.floor_ms), 1e-6);
    if (r.strategy == "random:4") EXPECT_TRUE(r.feasible) << "random search keeps feasible samples only";
  }

  // results.md: NASC's reduction in each cell, recomputed from the CSV rows alone.
  std::string md = read_text(out / "results.md");
  for (double f : {0.6, 0.9}) {
    double nasc_ms = 0, ref_ms = 0;
    int n_nasc = 0, n_ref = 0;
    for (auto& r : rows) {
      if (r.strategy == "nasc" && r.threshold_fraction == f) nasc_ms += r.total_ms, ++n_nasc;
      if (r.strategy == "accuracy-only") ref_ms += r.total_ms, ++n_ref;
    }
    ASSERT_EQ(n_nasc, 2);
    std::string row = summary_row(md, f);
    ASSERT_FALSE(row.empty()) << "no summary row for f=" << f << " in\n" << md;
    std::string want = "| " + pct(1 - (nasc_ms / n_nasc) / (ref_ms / n_ref)) + " |";
    EXPECT_NE(row.find(want), std::string::npos) << "expected " << want << " in: " << row;
  }
  EXPECT_NE(md.find("## Search cost"), std::string::npos);
  EXPECT_NE(md.find("stand-alone training"), std::string::npos);
  EXPECT_TRUE(fs::exists(out / "cost.csv"));

  // Plots: accuracy against latency and the latency breakdown, each as PNG and SVG; the script kept beside them.
  ASSERT_EQ(first.plots.size(), 4u);
  int png = 0, svg = 0;
  for (auto& p : first.plots) {
    ASSERT_TRUE(fs::exists(p)) << p;
    EXPECT_GT(fs::file_size(p), 1000u) << p;
    std::string text = read_text(p);
    if (fs::path(p).extension() == ".png") png += text.compare(1, 3, "PNG") == 0;
    if (fs::path(p).extension() == ".svg") svg += text.find("<svg") != std::string::npos;
  }
  EXPECT_EQ(png, 2);
  EXPECT_EQ(svg, 2);
  EXPECT_TRUE(fs::exists(out / "plots" / "plots.gp"));
  EXPECT_FALSE(fs::exists(out / "plots.tmp"));

  // A re-run finds every run finished: nothing searched or trained, no result file rewritten, far faster.
  auto before = result_mtimes(out);
  t0 = std::chrono::steady_clock::now();
  ExperimentStats second = run_experiment(cfg, out.string(), torch::kCPU);
  double second_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(second.runs, expected_rows);
  EXPECT_EQ(second.runs_reused, expected_rows);
  EXPECT_EQ(second.searches_run, 0);
  EXPECT_EQ(second.retrains_run, 0);
  EXPECT_EQ(result_mtimes(out), before);
  EXPECT_EQ(read_text(out / "results.md"), md);
  EXPECT_LT(second_s, first_s / 2) << "first run " << first_s << " s, re-run " << second_s << " s";

  // The command rewrites the report from the CSV alone.
  fs::remove(out / "results.md");
  std::string cmd = std::string(NASC_BINARY) + " experiment --report-only --out '" + out.string() + "' > /dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(read_text(out / "results.md"), md);

  // Changing what results depend on makes the directory refuse the config rather than mix stale runs in.
  ExperimentConfig changed = cfg;
  changed.retrain.epochs = 2;
  try {
    run_experiment(changed, out.string(), torch::kCPU);
    ADD_FAILURE() << "expected an Error for a changed retraining recipe";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'retrain'"), std::string::npos) << e.what();
  }
  changed = cfg;
  changed.retrain_as_deployed = true;  // the retrained accuracies would change meaning
  try {
    run_experiment(changed, out.string(), torch::kCPU);
    ADD_FAILURE() << "expected an Error for retraining as deployed in a folder made without it";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'retrain_as_deployed'"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(Experiment, ConfigErrorsNameTheFieldAndWhatWasExpected) {
  json good = read_json_file((fs::path(NASC_SOURCE_DIR) / "configs" / "mini.json").string());
  EXPECT_NO_THROW(ExperimentConfig::from_json(good, "mini.json"));
  auto expect = [&](json j, const std::string& fragment) {
    std::string e = config_error(j);
    EXPECT_NE(e.find(fragment), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << "one line: " << e;
  };
  json j = good;
  j["bandwidth"] = 3;
  expect(j, "unknown field 'bandwidth'");
  j = good;
  j["strategies"] = {"nasc", "fixed:k3_e6"};
  expect(j, "must include accuracy-only");
  j = good;
  j["threshold_fractions"] = {0.5, 1.5};
  expect(j, "threshold fraction 1.5");
  j = good;
  j["threshold_fractions"] = {0};
  expect(j, "expected 0 < f <= 1");
  j = good;
  j["threshold_quantiles"] = {0.5};
  expect(j, "expected exactly one of 'threshold_fractions'");
  j.erase("threshold_fractions");
  j["threshold_quantiles"] = {0.25, 1};
  expect(j, "threshold quantile 1: expected 0 < q < 1");
  j["threshold_quantiles"] = {0.25, 0.25};
  expect(j, "threshold_quantiles");
  j = good;
  j["strategies"] = {"accuracy-only", "greedy"};
  expect(j, "strategy 'greedy'");
  j = good;
  j["search"]["epoch"] = 3;
  expect(j, "unknown field 'epoch'");
  j = good;  // the search options that are written only when set are accepted and read all the same
  j["search"].update({{"shared_kernels", false}, {"feasible_sampling", false},
                      {"fair_sampling", false}, {"epochs", 2}});
  const SearchOptions so = ExperimentConfig::from_json(j, "mini.json").search;
  EXPECT_TRUE(so.weight_paths == WeightPaths::theta && !so.feasible_sampling);
  EXPECT_EQ(so.epochs, 2);
  j["search"]["uniform_weights"] = true;  // uniform weight paths, measured on the truth and removed
  expect(j, "removed option 'uniform_weights' = true");
  j["search"]["uniform_weights"] = false;
  j["search"]["tie_infeasible"] = true;  // an option results/table-variants measured and nasc search dropped
  expect(j, "removed option 'tie_infeasible' = true");
  j["search"]["tie_infeasible"] = false;
  j["search"]["rescore"] = 0;  // --rescore, removed once loss-scored candidates still did not help (docs/findings.md)
  EXPECT_NO_THROW(ExperimentConfig::from_json(j, "mini.json"));
  j["search"]["rescore"] = 8;
  expect(j, "removed option 'rescore' = 8");
  j["search"]["rescore"] = 0;
  j["search"]["shared_kernels"] = true;  // removed with --rescore: no regret gain beyond the seed spread
  expect(j, "removed option 'shared_kernels' = true");
  j["search"]["shared_kernels"] = false;
  j["search"].update({{"sandwich", false}, {"theta_batch_size", 0}});  // as every older search.json records them
  EXPECT_NO_THROW(ExperimentConfig::from_json(j, "mini.json"));
  j["search"]["theta_batch_size"] = 512;  // removed with --sandwich: neither beat more epochs over 3 seeds
  expect(j, "removed option 'theta_batch_size' = 512");
  j = good;
  j["retrain"] = 5;
  expect(j, "retrain: expected a JSON object");
  j = good;
  j["scenarios"][0]["name"] = "a/b";
  expect(j, "name 'a/b'");
  j = good;
  j["bandwidths_mbps"] = {10, 0};
  expect(j, "bandwidth 0");
  j = good;
  j["bandwidths_mbps"] = "10";
  expect(j, "field 'bandwidths_mbps' holds");
  j = good;
  j.erase("scenarios");
  expect(j, "'scenarios' must be a non-empty list");
  j = good;
  j["retrain_as_deployed"] = 1;
  expect(j, "field 'retrain_as_deployed' holds 1");
  j = good;
  j["retrain"]["payload"] = {{"split", 3}, {"encoding", "int8"}};  // per run, from its split: not a recipe field
  expect(j, "unknown field 'payload'");
  j = good;
  j["retrain_as_deployed"] = true;
  EXPECT_TRUE(ExperimentConfig::from_json(j, "mini.json").retrain_as_deployed);
  EXPECT_FALSE(ExperimentConfig::from_json(good, "mini.json").retrain_as_deployed);
  // Every bundled config parses.
  int bundled = 0;
  for (const auto& e : fs::directory_iterator(fs::path(NASC_SOURCE_DIR) / "configs")) {
    if (e.path().extension() != ".json") continue;
    ++bundled;
    EXPECT_NO_THROW(ExperimentConfig::from_json(read_json_file(e.path().string()), e.path().string())) << e.path();
  }
  EXPECT_GE(bundled, 7);
}

// The command fails in one line, before writing anything, on a config naming a profile that does not exist.
// A scenario with a recorded uplink has one link cell, "trace": its searches price each split's uplink at the
// trace's quantile, its rows sit at the trace's mean rate, and a finished run is reused only over the same trace.
TEST(Experiment, TraceScenarioPricesTheUplinkAtTheTracesQuantile) {
  fs::path dir = temp_dir("trace");
  ExperimentConfig base = mini_config(dir);
  {  // 18 s at 20 Mbit/s, then 2 s at 0.2: a tenth of the requests start in the slow seconds; mean 18.02 Mbit/s
    std::ofstream t(dir / "onoff.csv");
    t << "seconds,mbps\n0,20\n18,0.2\n19,0.2\n";
  }
  json j = read_json_file((dir / "mini.json").string());
  j["scenarios"].push_back({{"name", "synthetic-trace"}, {"device_profile", "mini-device.json"},
                            {"server_profile", "mini-server.json"}, {"link_trace", "onoff.csv"},
                            {"latency_quantile", 0.95}});
  j["strategies"] = {"accuracy-only", "fixed:k3_e6"};
  j["threshold_fractions"] = {0.9};
  j["seeds"] = {1};
  write_json_atomic((dir / "trace.json").string(), j);
  const ExperimentConfig cfg = ExperimentConfig::load((dir / "trace.json").string());
  const fs::path out = dir / "out";
  const ExperimentStats first = run_experiment(cfg, out.string(), torch::kCPU);
  EXPECT_EQ(first.runs, 4) << "two scenarios, one link cell each: accuracy-only and fixed:k3_e6 at f = 0.9";

  const LinkTrace trace = LinkTrace::load((dir / "onoff.csv").string());
  EXPECT_NEAR(trace.mean_mbps(), (18 * 20 + 2 * 0.2) / 20.0, 1e-9);
  Space tiny(SpaceConfig::preset("tiny"));
  const HardwareProfile dev = HardwareProfile::load((dir / "mini-device.json").string());
  const HardwareProfile srv = HardwareProfile::load((dir / "mini-server.json").string());
  const double mean = trace.mean_mbps();
  const LatencyEstimator constant(tiny, dev, srv, LinkModel{mean, mean, 1, false}, Encoding::Int8);
  const std::vector<double> priced = uplink_quantile_ms(constant, trace, 0.95);
  const Arch k3_e6(size_t(tiny.num_layers()), tiny.op_index("k3_e6"));
  const int B = tiny.num_blocks();
  for (int p = 1; p < B; ++p) {
    // A tenth of the requests start in the slow seconds, so the p95 of a small payload's send is its time at
    // 0.2 Mbit/s (200 bit per ms) plus the 1 ms delay: the requests that start in the slow segment's last
    // moments, and so finish faster, are fewer than the 5% above the p95.
    const int64_t bytes = constant.breakdown(k3_e6, p).payload_bytes;
    ASSERT_LT(bytes, 10000) << "the hand computation needs the send to fit in one slow second";
    EXPECT_NEAR(priced[size_t(p)], bytes * 8 / 200.0 + 1, 1e-6) << "split " << p;
  }
  int trace_rows = 0;
  for (const ResultRow& r : read_results_csv((out / "results.csv").string())) {
    if (r.scenario != "synthetic-trace") {
      EXPECT_EQ(r.bandwidth_mbps, 10);
      continue;
    }
    ++trace_rows;
    EXPECT_EQ(r.run_dir.rfind("runs/synthetic-trace/floor1/trace/", 0), 0u) << r.run_dir;
    EXPECT_NEAR(r.bandwidth_mbps, mean, 1e-9);
    EXPECT_NEAR(r.uplink_ms, priced[size_t(r.split)], 1e-9) << r.strategy << " split " << r.split;
    if (r.strategy == "fixed:k3_e6") {
      EXPECT_LT(constant.best_split(k3_e6, 1).split, B) << "at the trace's mean rate this network splits";
      EXPECT_EQ(r.split, B) << "at the trace's p95 every split costs more than the device alone";
    }
    const json found = read_json_file((out / r.run_dir / "search.json").string());
    EXPECT_EQ(found.at("link_trace").at("quantile"), 0.95);
  }
  EXPECT_EQ(trace_rows, 2);
  const ExperimentStats again = run_experiment(cfg, out.string(), torch::kCPU);
  EXPECT_EQ(again.runs_reused, 4);
  EXPECT_EQ(again.searches_run, 0);

  auto error = [&](json scenario) {
    json bad = j;
    bad["scenarios"][1] = scenario;
    return config_error(bad);
  };
  json sc = j["scenarios"][1];
  sc["latency_quantile"] = 1.5;
  EXPECT_NE(error(sc).find("latency_quantile 1.5: expected 0..1"), std::string::npos) << error(sc);
  sc.erase("link_trace");
  sc["latency_quantile"] = 0.5;
  EXPECT_NE(error(sc).find("latency_quantile needs link_trace"), std::string::npos) << error(sc);
  fs::remove_all(dir);
}

// threshold_quantiles place T at quantiles of the latency of the space's networks (latency_quantile_ms, checked by
// hand in tests/search) on the cell's own link; the runs go to q<level>/ and results.md says q.
TEST(Experiment, QuantileThresholdsAreQuantilesOfTheSpacesLatency) {
  fs::path dir = temp_dir("quantiles");
  mini_config(dir);
  json j = read_json_file((dir / "mini.json").string());
  j.erase("threshold_fractions");
  j["threshold_quantiles"] = {0.25, 0.75};
  j["strategies"] = {"accuracy-only", "max-flops-feasible"};
  j["seeds"] = {1};
  write_json_atomic((dir / "q.json").string(), j);
  const ExperimentConfig cfg = ExperimentConfig::load((dir / "q.json").string());
  const fs::path out = dir / "out";
  EXPECT_EQ(run_experiment(cfg, out.string(), torch::kCPU).runs, 3);

  Space tiny(SpaceConfig::preset("tiny"));
  const LatencyEstimator est(tiny, HardwareProfile::load((dir / "mini-device.json").string()),
                             HardwareProfile::load((dir / "mini-server.json").string()),
                             LinkModel{10, 10, 1, false}, Encoding::Int8);
  int constrained = 0;
  EXPECT_LT(latency_quantile_ms(est, 1, 0.25), latency_quantile_ms(est, 1, 0.75));
  for (const ResultRow& r : read_results_csv((out / "results.csv").string())) {
    if (!r.constrained()) continue;
    ++constrained;
    ASSERT_TRUE(r.by_quantile()) << r.run_dir;
    EXPECT_TRUE(std::isnan(r.threshold_fraction));
    const double T = latency_quantile_ms(est, 1, r.threshold_quantile);
    EXPECT_NEAR(r.threshold_ms, T, 1e-9 * T) << "q = " << r.threshold_quantile;
    EXPECT_NE(r.run_dir.find(r.threshold_quantile == 0.25 ? "/q0.25/" : "/q0.75/"), std::string::npos) << r.run_dir;
    EXPECT_LE(r.total_ms, r.threshold_ms + 1e-9) << "max-flops-feasible meets T";
    const json found = read_json_file((out / r.run_dir / "search.json").string());
    EXPECT_EQ(found.at("threshold_quantile"), r.threshold_quantile);
  }
  EXPECT_EQ(constrained, 2);
  const std::string md = read_text(out / "results.md");
  EXPECT_NE(md.find("T = the q-quantile of the latency"), std::string::npos);
  EXPECT_NE(md.find("(q = 0.25)"), std::string::npos);
  EXPECT_EQ(md.find("(f = "), std::string::npos);
  EXPECT_EQ(read_json_file((out / "experiment.json").string()).at("config").count("threshold_fractions"), 0u);

  // Quantiles are not placed on accuracy-only, so a grid may leave it out and train no unconstrained supernet.
  j["strategies"] = {"max-flops-feasible"};
  write_json_atomic((dir / "q-only.json").string(), j);
  const fs::path only = dir / "only";
  const ExperimentStats stats = run_experiment(ExperimentConfig::load((dir / "q-only.json").string()), only.string(),
                                               torch::kCPU);
  EXPECT_EQ(stats.runs, 2);
  EXPECT_EQ(stats.total, 2);
  for (auto& e : fs::recursive_directory_iterator(only / "runs"))
    EXPECT_NE(e.path().filename(), "unconstrained") << e.path();
  for (const ResultRow& r : read_results_csv((only / "results.csv").string())) EXPECT_TRUE(r.constrained());
  EXPECT_EQ(read_text(only / "results.md").find("against accuracy-only"), std::string::npos) << "no empty table";
  fs::remove_all(dir);
}

TEST(Experiment, CommandRejectsAMissingProfileWithoutWritingOutputs) {
  fs::path dir = temp_dir("bad");
  json cfg = read_json_file((fs::path(NASC_SOURCE_DIR) / "configs" / "mini.json").string());
  cfg["scenarios"][0]["device_profile"] = "no-such-profile.json";
  write_json_atomic((dir / "bad.json").string(), cfg);
  std::string cmd = std::string(NASC_BINARY) + " experiment --config '" + (dir / "bad.json").string() + "' --out '" +
                    (dir / "out").string() + "' --device cpu 2> '" + (dir / "err.txt").string() + "'";
  int status = std::system(cmd.c_str());
  EXPECT_NE(status, 0);
  std::string err = read_text(dir / "err.txt");
  size_t at = err.find("nasc: error: scenario synthetic: ");
  ASSERT_NE(at, std::string::npos) << err;
  EXPECT_NE(err.find("no-such-profile.json", at), std::string::npos) << err;
  EXPECT_EQ(err.find('\n', at), err.size() - 1) << "one line: " << err;
  EXPECT_FALSE(fs::exists(dir / "out" / "results.csv"));
  EXPECT_FALSE(fs::exists(dir / "out" / "experiment.json"));
  fs::remove_all(dir);
}

// The reduction figures of results.md come from the CSV: a hand-written CSV with hand-computed figures.
TEST(Report, LatencyReductionInResultsMdIsRecomputedFromTheCsv) {
  fs::path dir = temp_dir("report");
  const auto row = hand_row;
  // accuracy-only: mean 8 ms; nasc at f = 0.5: mean 3 ms -> reduction 1 - 3/8 = 62.5%; Δacc = 0.80 - 0.90.
  std::vector<ResultRow> rows = {row("accuracy-only", kNaN, 1, 7, 0.91), row("accuracy-only", kNaN, 2, 9, 0.89),
                                 row("nasc", 0.5, 1, 2, 0.81), row("nasc", 0.5, 2, 4, 0.79)};
  write_results_csv((dir / "results.csv").string(), rows);
  std::vector<ResultRow> back = read_results_csv((dir / "results.csv").string());
  ASSERT_EQ(back.size(), rows.size());
  std::string md = render_markdown(back, nullptr, "hand");
  std::string summary = summary_row(md, 0.5);
  EXPECT_NE(summary.find("| 62.5% |"), std::string::npos) << summary;
  EXPECT_NE(summary.find("| -10.00 |"), std::string::npos) << summary;
  EXPECT_NE(summary.find("| 80.00 ± 1.41 |"), std::string::npos) << summary;
  std::vector<CellSummary> cells = summarize(back);
  ASSERT_EQ(cells.size(), 1u);
  EXPECT_DOUBLE_EQ(latency_reduction(cells[0], "nasc"), 1 - 3.0 / 8.0);
  EXPECT_EQ(format_percent(latency_reduction(cells[0], "nasc")), "62.5%");
  fs::remove_all(dir);
}

// Strategies compared at equal latency: every (strategy, f) point of a bandwidth, fastest first, front marked.
TEST(Report, AccuracyAgainstLatencyTableMarksTheParetoFront) {
  auto row = [](const std::string& strategy, double f, double total_ms, double acc) {
    return hand_row(strategy, f, 1, total_ms, acc);
  };
  const std::string md =
      render_markdown({row("accuracy-only", kNaN, 8, 0.90), row("nasc", 0.5, 3, 0.80), row("random:8", 0.5, 3.5, 0.75),
                       row("fixed:k3_e6", 0.5, 9, 0.91), row("nasc", 0.3, 2, 0.70), row("random:8", 0.3, 2.5, 0.71),
                       row("fixed:k3_e6", 0.3, 9, 0.91)},
                      nullptr, "pareto");
  const size_t at = md.find("### s, privacy floor 1, 10 Mbit/s\n\n| total ms |");
  ASSERT_NE(at, std::string::npos) << md;
  const std::string table = md.substr(at, md.find("\n\n", md.find("|---", at)) - at);
  const std::vector<std::string> want = {
      "| 2.000 | 70.00 | nasc | 0.3 | 3 | 1/1 | yes |", "| 2.500 | 71.00 | random:8 | 0.3 | 3 | 1/1 | yes |",
      "| 3.000 | 80.00 | nasc | 0.5 | 3 | 1/1 | yes |", "| 3.500 | 75.00 | random:8 | 0.5 | 3 | 1/1 |  |",
      "| 8.000 | 90.00 | accuracy-only | – | 3 | – | yes |", "| 9.000 | 91.00 | fixed:k3_e6 | – | 3 | – | yes |"};
  size_t pos = 0;
  for (const auto& line : want) {
    const size_t found = table.find(line, pos);
    EXPECT_NE(found, std::string::npos) << line << "\n" << table;
    if (found != std::string::npos) pos = found;
  }
  size_t lines = 0;  // the header and the six points, nothing else
  for (size_t i = table.find("\n| "); i != std::string::npos; i = table.find("\n| ", i + 1)) ++lines;
  EXPECT_EQ(lines, 7u) << table;
}

// NASC against random search, seed by seed, with hand-computed differences and verdicts.
TEST(Report, HeadToHeadPairsSeedsAndJudgesAgainstTheSpread) {
  auto row = [](const std::string& strategy, double f, uint64_t seed, double acc) {
    return hand_row(strategy, f, seed, std::isnan(f) ? 8 : 1 + f * 7, acc);
  };
  // f = 0.3: NASC 0.80/0.82/0.84 (std 0.02), random 0.70/0.71/0.72 (std 0.01): Δ 0.10/0.11/0.12, ahead.
  // f = 0.5: NASC 0.80/0.70/0.90 (std 0.10), random 0.78/0.75/0.80: Δ +0.02/-0.05/+0.10, mean 0.0233, within.
  // f = 0.7: NASC 0.70/0.71 (std 0.00707), random 0.80/0.81: Δ -0.10 twice, behind.
  std::vector<ResultRow> rows = {row("accuracy-only", kNaN, 1, 0.9), row("accuracy-only", kNaN, 2, 0.9)};
  const double nasc[3][3] = {{0.80, 0.82, 0.84}, {0.80, 0.70, 0.90}, {0.70, 0.71, kNaN}};
  const double rand[3][3] = {{0.70, 0.71, 0.72}, {0.78, 0.75, 0.80}, {0.80, 0.81, kNaN}};
  const double fs[3] = {0.3, 0.5, 0.7};
  for (int c = 0; c < 3; ++c)
    for (int s = 0; s < 3; ++s)
      if (!std::isnan(nasc[c][s])) {
        rows.push_back(row("nasc", fs[c], uint64_t(s + 1), nasc[c][s]));
        rows.push_back(row("random:8", fs[c], uint64_t(s + 1), rand[c][s]));
      }
  rows.push_back(row("random:8", 0.3, 4, 0.71));  // a seed NASC lacks: in the spread, not in the pairs
  std::vector<CellSummary> cells = summarize(rows);
  ASSERT_EQ(cells.size(), 3u);
  std::vector<HeadToHead> h = head_to_head(cells[0]);
  ASSERT_EQ(h.size(), 1u);  // accuracy-only does not follow T: no comparison
  EXPECT_EQ(h[0].baseline, "random:8");
  EXPECT_EQ(h[0].seeds, 3);
  EXPECT_EQ(h[0].wins, 3);
  EXPECT_NEAR(h[0].delta_mean, 0.11, 1e-12);
  EXPECT_NEAR(h[0].delta_std, 0.01, 1e-12);
  EXPECT_NEAR(h[0].spread, 0.02, 1e-12);
  EXPECT_EQ(h[0].verdict(), 1);
  h = head_to_head(cells[1]);
  EXPECT_EQ(h[0].wins, 2);
  EXPECT_NEAR(h[0].delta_mean, 0.07 / 3, 1e-12);
  EXPECT_NEAR(h[0].spread, 0.10, 1e-12);
  EXPECT_EQ(h[0].verdict(), 0);
  h = head_to_head(cells[2]);
  EXPECT_EQ(h[0].wins, 0);
  EXPECT_NEAR(h[0].delta_mean, -0.10, 1e-12);
  EXPECT_EQ(h[0].verdict(), -1);
  const std::string md = render_markdown(rows, nullptr, "h2h");
  EXPECT_NE(md.find("- against random:8: NASC ahead by more than the spread in 1 of 3 cells, within it in 1, behind "
                    "by more in 1."),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| s | 1 | 10 | 0.3 | random:8 | 82.00 ± 2.00 | 71.00 ± 0.82 | 3.100 | 3.100 | +11.00 ± 1.00 | "
                    "3/3 | 2.00 | NASC ahead |"),
            std::string::npos)
      << md;
}

TEST(Report, ParetoFrontKeepsOnlyUndominatedPoints) {
  auto front = pareto_front({{5, 80}, {3, 70}, {4, 65}, {8, 85}, {6, 79}, {3, 60}, {8, 84}});
  std::vector<std::pair<double, double>> want = {{3, 70}, {5, 80}, {8, 85}};
  EXPECT_EQ(front, want);
}

TEST(Report, ResultRowsRoundTripThroughCsv) {
  ResultRow r;
  r.scenario = "s";
  r.strategy = "fixed:k3_e6";
  r.arch = "k3_e6,skip,\"odd\"";
  r.total_ms = 1.0 / 3;
  r.seed = 7;
  ResultRow back = ResultRow::from_csv(r.csv_row(), "test");
  EXPECT_EQ(back.arch, r.arch);
  EXPECT_EQ(back.strategy, r.strategy);
  EXPECT_EQ(back.seed, 7u);
  EXPECT_NEAR(back.total_ms, r.total_ms, 1e-9);
  EXPECT_TRUE(std::isnan(back.threshold_ms));
  EXPECT_TRUE(std::isnan(back.supernet_val_acc));
  EXPECT_FALSE(back.constrained());
  r.threshold_quantile = 0.25;
  back = ResultRow::from_csv(r.csv_row(), "test");
  EXPECT_EQ(back.threshold_quantile, 0.25);
  EXPECT_TRUE(back.constrained() && back.by_quantile() && std::isnan(back.threshold_fraction));
  r.threshold_fraction = 0.5;  // one rule per threshold
  EXPECT_THROW(ResultRow::from_csv(r.csv_row(), "test"), Error);
  EXPECT_THROW(ResultRow::from_csv("a,b", "test"), Error);
}

// With a truth table: regret columns round-trip, results.md gains the regret table with per-strategy means, and
// a results.csv written before the truth columns still reads.
TEST(Report, RegretAgainstTheTruthIsTabulatedAndOldCsvFilesStillRead) {
  fs::path dir = temp_dir("truth-report");
  auto judged = [](const std::string& strategy, uint64_t seed, double regret) {
    ResultRow r = hand_row(strategy, 0.5, seed, 3, 0.9);
    r.best_true_acc = 92.5;
    r.regret = regret;
    r.true_acc = 92.5 - regret;
    return r;
  };
  std::vector<ResultRow> rows = {hand_row("accuracy-only", kNaN, 1, 7, 0.91), judged("nasc", 1, 1.0),
                                 judged("nasc", 2, 2.0), judged("random:8", 1, 0.25), judged("random:8", 2, 0.75)};
  write_results_csv((dir / "results.csv").string(), rows);
  std::vector<ResultRow> back = read_results_csv((dir / "results.csv").string());
  ASSERT_EQ(back.size(), rows.size());
  EXPECT_DOUBLE_EQ(back[1].regret, 1.0);
  EXPECT_DOUBLE_EQ(back[1].true_acc, 91.5);
  EXPECT_TRUE(std::isnan(back[0].regret));
  const std::string md = render_markdown(back, nullptr, "truth");
  const size_t table = md.find("## Regret against the truth table");
  ASSERT_NE(table, std::string::npos) << md;
  const size_t line = md.find("| s | 1 | 10 | 0.5 |", table);
  ASSERT_NE(line, std::string::npos) << md.substr(table);
  const std::string cells = md.substr(line, md.find('\n', line) - line);
  EXPECT_NE(cells.find("| 92.50 | 1.50 ± 0.71 | 0.50 ± 0.35 |"), std::string::npos) << cells;
  EXPECT_EQ(render_markdown({hand_row("accuracy-only", kNaN, 1, 7, 0.9)}, nullptr, "none").find("Regret against"),
            std::string::npos) << "no truth, no table";
  // The file formats before the truth columns and before threshold_quantile: the same rows without the last
  // four fields, or without the last one.
  for (int dropped : {4, 1}) {
    std::string old = ResultRow::csv_header(), row = rows[1].csv_row();
    for (int i = 0; i < dropped; ++i) old = old.substr(0, old.rfind(',')), row = row.substr(0, row.rfind(','));
    std::ofstream((dir / "old.csv").string()) << old << "\n" << row << "\n";
    std::vector<ResultRow> old_rows = read_results_csv((dir / "old.csv").string());
    ASSERT_EQ(old_rows.size(), 1u);
    EXPECT_EQ(old_rows[0].strategy, "nasc");
    EXPECT_EQ(std::isnan(old_rows[0].regret), dropped == 4);
    EXPECT_EQ(old_rows[0].threshold_fraction, 0.5);
    EXPECT_TRUE(std::isnan(old_rows[0].threshold_quantile));
  }
  fs::remove_all(dir);
}

namespace {

// results.csv without the columns that time the run (they differ between any two runs).
std::vector<std::string> untimed_rows(const fs::path& csv) {
  std::vector<std::string> out;
  for (ResultRow r : read_results_csv(csv.string())) {
    r.search_s = r.retrain_s = 0;
    std::ostringstream line;
    line << r.run_dir << ' ' << r.arch << ' ' << r.split << ' ' << r.total_ms << ' ' << r.threshold_ms << ' '
         << r.test_acc << ' ' << r.supernet_val_acc << ' ' << r.feasible;
    out.push_back(line.str());
  }
  std::sort(out.begin(), out.end());
  return out;
}

int nasc_command(const std::string& args, const fs::path& log) {
  return std::system((std::string(NASC_BINARY) + " " + args + " > '" + log.string() + "' 2>&1").c_str());
}

}  // namespace

// Two shards as separate processes at once into one folder, then --report-only: exactly the rows of the unsharded
// run (same seeds, one thread each, so the same numbers), and a lone shard's folder lists what is missing.
TEST(Experiment, ShardsRunAsSeparateProcessesMergeToTheUnshardedResults) {
  fs::path dir = temp_dir("shards");
  ExperimentConfig cfg = mini_config(dir);
  cfg.seeds = {1};
  cfg.threshold_fractions = {0.6};
  const fs::path config = dir / "cfg.json";
  write_json_atomic(config.string(), cfg.to_json());
  const std::string common = "experiment --threads 1 --config '" + config.string() + "' --out ";

  ASSERT_EQ(nasc_command(common + "'" + (dir / "whole").string() + "'", dir / "whole.log"), 0)
      << read_text(dir / "whole.log");
  const std::string sharded = common + "'" + (dir / "sharded").string() + "'";
  const std::string both = "( " + std::string(NASC_BINARY) + " " + sharded + " --shard 1/2 > '" +
                           (dir / "s1.log").string() + "' 2>&1 & " + std::string(NASC_BINARY) + " " + sharded +
                           " --shard 2/2 > '" + (dir / "s2.log").string() + "' 2>&1; s2=$?; wait $!; s1=$?; " +
                           "test $s1 -eq 0 -a $s2 -eq 0 )";
  ASSERT_EQ(std::system(both.c_str()), 0) << read_text(dir / "s1.log") << read_text(dir / "s2.log");
  ASSERT_EQ(nasc_command("experiment --report-only --out '" + (dir / "sharded").string() + "'", dir / "merge.log"), 0)
      << read_text(dir / "merge.log");
  EXPECT_NE(read_text(dir / "merge.log").find("merged 4 of 4 runs"), std::string::npos) << read_text(dir / "merge.log");
  const std::vector<std::string> whole = untimed_rows(dir / "whole" / "results.csv");
  ASSERT_EQ(whole.size(), 4u);  // accuracy-only, then nasc, fixed:k3_e6 and random:4 at one threshold
  EXPECT_EQ(untimed_rows(dir / "sharded" / "results.csv"), whole);

  // One shard alone: its own runs and the baseline they need; --report-only names the rest as missing.
  const fs::path lone = dir / "lone";
  ASSERT_EQ(nasc_command(common + "'" + lone.string() + "' --shard 2/2", dir / "lone.log"), 0) << read_text(dir / "lone.log");
  ASSERT_EQ(nasc_command("experiment --report-only --out '" + lone.string() + "'", dir / "lone-merge.log"), 0);
  const std::string report = read_text(dir / "lone-merge.log");
  EXPECT_NE(report.find("merged 3 of 4 runs"), std::string::npos) << report;  // the baseline, nasc and random:4
  EXPECT_NE(report.find("1 of 4 runs not finished yet"), std::string::npos) << report;
  EXPECT_NE(report.find("/fixed_k3_e6/seed1"), std::string::npos) << "run 2 belongs to shard 1/2: " << report;
  EXPECT_NE(nasc_command(common + "'" + lone.string() + "' --shard 3/2", dir / "bad.log"), 0);
  EXPECT_NE(read_text(dir / "bad.log").find("--shard '3/2': expected K/N with 1 <= K <= N"), std::string::npos);

  // The Slurm job array's task 3 of an array 0-3 is shard 4/4, on the CPU with the task's cores.
  const std::string sbatch = "SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_COUNT=4 SLURM_CPUS_PER_TASK=6 "
                             "CUDA_VISIBLE_DEVICES= NASC=echo bash '" NASC_SOURCE_DIR "/scripts/slurm/experiment.sbatch' "
                             "cfg.json /shared/out > '" + (dir / "sbatch.log").string() + "' 2>&1";
  ASSERT_EQ(std::system(sbatch.c_str()), 0) << read_text(dir / "sbatch.log");
  EXPECT_EQ(read_text(dir / "sbatch.log"),
            "experiment --config cfg.json --out /shared/out --shard 4/4 --device cpu --threads 6\n");

  // Slurm runs a copy of the script from its spool folder: the binary is found from the submit directory.
  fs::create_directories(dir / "submit" / "build");
  fs::create_directories(dir / "spool" / "job7");
  std::ofstream(dir / "submit" / "build" / "nasc") << "#!/bin/sh\necho fake nasc \"$@\"\n";
  fs::permissions(dir / "submit" / "build" / "nasc", fs::perms::owner_all);
  fs::copy_file(fs::path(NASC_SOURCE_DIR) / "scripts" / "slurm" / "experiment.sbatch", dir / "spool" / "job7" / "slurm_script");
  auto spooled = [&](const fs::path& submit) {
    return "SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=2 SLURM_SUBMIT_DIR='" + submit.string() + "' bash '" +
           (dir / "spool" / "job7" / "slurm_script").string() + "' cfg.json out > '" + (dir / "spool.log").string() +
           "' 2>&1";
  };
  ASSERT_EQ(std::system(spooled(dir / "submit").c_str()), 0) << read_text(dir / "spool.log");
  EXPECT_EQ(read_text(dir / "spool.log").rfind("fake nasc experiment --config cfg.json --out out --shard 1/2", 0), 0u)
      << read_text(dir / "spool.log");
  EXPECT_NE(std::system(spooled(dir / "elsewhere").c_str()), 0);
  EXPECT_NE(read_text(dir / "spool.log").find("submit from the repository root or set NASC"), std::string::npos)
      << read_text(dir / "spool.log");
  fs::remove_all(dir);
}
