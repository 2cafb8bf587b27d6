// nasc search: joint architecture and split-point search (or one of its baselines) under a latency threshold.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "command.h"
#include "common/error.h"
#include "common/stats.h"
#include "data/data_spec.h"
#include "nn/device.h"
#include "scenario_args.h"
#include "latency/link_trace.h"
#include "latency/trace_latency.h"
#include "search/budget.h"
#include "search/strategy.h"
#include "train/trainer.h"

namespace {

// Each search option's flag (search_options(): one declaration each) with what the command line gave it.
struct OptionFlag {
  const nasc::SearchOption* option;
  CLI::Option* cli = nullptr;
  std::string text;   // a valued flag's text
  bool set = false;   // a bare flag's value (it may say --flag=false)
};

struct SearchArgs {
  nasc::cli::ScenarioArgs scenario;
  std::string data = "fmnist";
  std::string strategy = "nasc";
  std::string budget = "quick";
  std::string config;         // a JSON object of search options, or an experiment config's "search" object
  double max_latency_ms = 0;  // 0: unconstrained (only meaningful for accuracy-only)
  double latency_frac = -1;   // >= 0: T_max = floor + frac * (largest network's latency - floor)
  std::vector<std::unique_ptr<OptionFlag>> options;  // stable addresses: CLI11 writes into them
  std::string link_trace;        // a recorded uplink: each split's uplink priced at latency_quantile over it
  double latency_quantile = -1;  // default 0.95 with a trace
  std::string truth;
  std::string out = "runs/search";
  std::string device = "auto";
  int threads = 0;
  bool resume = false;
};

}  // namespace

namespace nasc::cli {

void print_search_summary(const json& r, const Space& space) {
  const json& l = r["latency"];
  std::printf("strategy      %s\n", r["strategy"].get<std::string>().c_str());
  std::printf("architecture  %s\n", r["arch"].get<std::string>().c_str());
  int p = r["split"];
  std::printf("split         %d (%s)\n", p, space.describe_split(p).c_str());
  std::printf("latency       %.3f ms = device %.3f + uplink %.3f + server %.3f + downlink %.3f (payload %lld B)\n",
              l["total_ms"].get<double>(), l["device_ms"].get<double>(), l["uplink_ms"].get<double>(),
              l["server_ms"].get<double>(), l["downlink_ms"].get<double>(), (long long)r["payload_bytes"].get<int64_t>());
  if (r.contains("same_network"))
    std::printf("same network  device only %.3f ms; at split %d (as early as the privacy floor allows) %.3f ms\n",
                r["same_network"]["device_only_ms"].get<double>(), r["same_network"]["earliest_split"].get<int>(),
                r["same_network"]["earliest_split_ms"].get<double>());
  if (!r["max_latency_ms"].is_null())
    std::printf("threshold     %.3f ms (%s); floor of the space %.3f ms\n", r["max_latency_ms"].get<double>(),
                r["feasible"].get<bool>() ? "met" : "NOT met", r["oracle"]["total_ms"].get<double>());
  if (r.contains("mode"))
    std::printf("selection     %s; the mode was %s at split %d\n", r["selection"].get<std::string>().c_str(),
                r["mode"]["arch"].get<std::string>().c_str(), r["mode"]["split"].get<int>());
  else if (r.contains("unfilled"))
    std::printf("selection     %s\n", r["selection"].get<std::string>().c_str());
  if (!r["supernet_val_acc"].is_null())
    std::printf("supernet validation accuracy %.2f%% (before retraining)\n", 100 * r["supernet_val_acc"].get<double>());
  if (r.contains("link_trace")) {
    const json& t = r["link_trace"];
    const json& s = t["static_split"];
    const json& o = t["oracle_split"];
    std::printf("over trace    %s: at split %d p50 %.3f, p95 %.3f ms", t["file"].get<std::string>().c_str(),
                r["split"].get<int>(), s["p50_ms"].get<double>(), s["p95_ms"].get<double>());
    if (!s["share_within"].is_null())
      std::printf(", %.1f%% within T (priced %.3f ms at q %.2f, measured %.3f)", 100 * s["share_within"].get<double>(),
                  t["priced_total_ms"].get<double>(), t["quantile"].get<double>(), t["measured_quantile_ms"].get<double>());
    std::printf("; best split per request p50 %.3f, p95 %.3f ms\n", o["p50_ms"].get<double>(), o["p95_ms"].get<double>());
  }
  if (r.contains("truth")) {
    const json& t = r["truth"];
    if (t["true_acc"].is_null())
      std::printf("true accuracy not in %s\n", t["table"].get<std::string>().c_str());
    else
      std::printf("true accuracy %.2f%%; best that meets the threshold %.2f%% (%s at split %d, %lld of %lld table "
                  "networks meet it); regret %.2f points\n",
                  t["true_acc"].get<double>(), t["best_true_acc"].get<double>(), t["best_arch"].get<std::string>().c_str(),
                  t["best_split"].get<int>(), (long long)t["feasible_archs"].get<int64_t>(),
                  (long long)t["table_size"].get<int64_t>(), t["regret"].get<double>());
  }
}

}  // namespace nasc::cli

namespace {

// The budget's options, then --config's, then each flag given.
nasc::SearchOptions search_options_of(const SearchArgs& a) {
  using namespace nasc;
  SearchOptions o = budget_options(a.budget);
  if (!a.config.empty()) {
    const json j = read_json_file(a.config);
    const bool experiment = j.is_object() && j.contains("search") && j.at("search").is_object();
    o.apply_json(experiment ? j.at("search") : j, experiment ? a.config + " search" : a.config);
  }
  for (const auto& f : a.options)
    if (f->cli->count() > 0) f->option->parse(o, f->option->is_flag ? (f->set ? "true" : "false") : f->text,
                                               "--" + f->option->flag);
  o.validate();
  return o;
}

// With --link-trace, the scenario's estimator prices each split's uplink at the quantile of the trace (a static
// split that meets T there meets it at that quantile); `constant` keeps the one with the constant link.
std::unique_ptr<nasc::LatencyEstimator> price_over_trace(const SearchArgs& a, nasc::cli::Scenario& sc,
                                                         std::optional<nasc::LinkTrace>& trace) {
  using namespace nasc;
  if (a.link_trace.empty()) {
    if (a.latency_quantile >= 0) fail("--latency-quantile needs --link-trace: the quantile is over a recorded uplink");
    return nullptr;
  }
  trace = LinkTrace::load(a.link_trace);
  const double q = a.latency_quantile >= 0 ? a.latency_quantile : 0.95;
  auto constant = std::move(sc.latency);
  sc.latency = std::make_unique<LatencyEstimator>(quantile_estimator(*constant, *trace, q));
  std::fprintf(stderr, "uplink: trace %s (%.1f s, mean %.3g Mbit/s), each split priced at its %g-quantile\n",
               a.link_trace.c_str(), trace->period_ms() / 1000, trace->mean_mbps(), q);
  return constant;
}

// What the answer does over the whole trace: at its static split, and with the split of each request chosen by
// one who knows the link ahead (the bound of the adaptive client), against the threshold.
nasc::json trace_report(const SearchArgs& a, const nasc::LatencyEstimator& constant, const nasc::LatencyEstimator& priced,
                        const nasc::LinkTrace& trace, const nasc::json& r, double max_latency_ms, int floor) {
  using namespace nasc;
  const Arch arch = priced.space().parse_arch(r["arch"].get<std::string>());
  const int p = r["split"];
  const double q = a.latency_quantile >= 0 ? a.latency_quantile : 0.95;
  const std::vector<double> at_split = latencies_over_trace(constant, arch, p, trace);
  std::vector<double> sorted = at_split;
  std::sort(sorted.begin(), sorted.end());
  return {{"file", a.link_trace},
          {"mean_mbps", trace.mean_mbps()},
          {"quantile", q},
          {"request_step_ms", TraceRequests{}.step_ms},
          {"priced_total_ms", priced.total_ms(arch, p)},
          {"measured_quantile_ms", quantile_sorted(sorted, q)},
          {"static_split", LatencySummary::of(at_split, max_latency_ms).to_json()},
          {"oracle_split", LatencySummary::of(oracle_over_trace(constant, arch, floor, trace), max_latency_ms).to_json()}};
}

int run_search(const SearchArgs& a) {
  using namespace nasc;
  namespace fs = std::filesystem;
  cli::Scenario sc = cli::load_scenario(a.scenario);
  std::optional<LinkTrace> trace;
  const std::unique_ptr<LatencyEstimator> constant = price_over_trace(a, sc, trace);
  const Space& space = *sc.space;
  SearchRequest req;
  req.strategy = Strategy::parse(a.strategy, space);
  req.options = search_options_of(a);
  req.min_device_blocks = a.scenario.min_device_blocks;
  if (a.max_latency_ms > 0 && a.latency_frac >= 0) fail("give --max-latency or --latency-frac, not both");
  if (a.latency_frac >= 0) {
    // Relative to the space's own range, so that the threshold binds whatever the profiles measure.
    double floor = sc.latency->oracle(a.scenario.min_device_blocks).latency.total_ms;
    double top = largest_network_ms(*sc.latency, a.scenario.min_device_blocks);
    req.max_latency_ms = threshold_between(floor, top, a.latency_frac);
    std::fprintf(stderr, "threshold %.3f ms = floor %.3f + %.2f x (largest network %.3f - floor)\n", req.max_latency_ms,
                 floor, a.latency_frac, top);
  } else if (a.max_latency_ms > 0)
    req.max_latency_ms = a.max_latency_ms;
  else if (req.strategy.constrained())
    fail("--max-latency is required for strategy ", req.strategy.name(), " (only accuracy-only runs unconstrained)");
  torch::Device device = select_device(a.device, a.threads);
  if (!a.resume && fs::exists(fs::path(a.out) / "checkpoint"))
    fail(a.out, " already holds a search checkpoint: pass --resume to continue it or choose another --out");
  // Check the threshold before loading data: an impossible one should fail at once.
  if (std::isfinite(req.max_latency_ms) && req.strategy.constrained())
    check_threshold(*sc.latency, req.max_latency_ms, req.min_device_blocks);
  std::optional<TruthTable> truth;
  if (!a.truth.empty()) truth = TruthTable::load(a.truth, space);
  req.truth = truth ? &*truth : nullptr;
  DataSpec spec = DataSpec::parse(a.data);
  TrainTest data;  // strategies that train nothing read no images
  if (req.strategy.trains()) {
    data = load_train_test(spec, space.input_shape().h, space.input_shape().w);
    require_data_fits(space, data.train, spec.to_string());
  }
  fs::create_directories(a.out);
  std::fprintf(stderr, "search %s on %s, space %s, %s, link %.3g Mbit/s + %.3g ms, %s payload\n",
               req.strategy.name().c_str(), req.strategy.trains() ? spec.to_string().c_str() : "no data (trains nothing)",
               space.name().c_str(),
               device_description(device).c_str(), a.scenario.bandwidth_mbps, a.scenario.delay_ms,
               a.scenario.encoding.c_str());
  json r = run_strategy(req, space, *sc.latency, data.train, device, a.out, a.resume);
  r["data"] = req.strategy.trains() ? json(spec.to_string()) : json(nullptr);
  r["budget"] = a.budget;
  r["device_profile"] = sc.device_profile_path;
  r["server_profile"] = sc.server_profile_path;
  r["device"] = device_description(device);
  r["versions"] = library_versions();
  {
    // What the same network would cost uncut or cut as early as the privacy floor allows: what the split buys.
    const Arch arch = space.parse_arch(r["arch"].get<std::string>());
    r["same_network"] = {{"device_only_ms", sc.latency->breakdown(arch, space.num_blocks()).total_ms},
                         {"earliest_split", req.min_device_blocks},
                         {"earliest_split_ms", sc.latency->breakdown(arch, req.min_device_blocks).total_ms}};
  }
  if (trace) r["link_trace"] = trace_report(a, *constant, *sc.latency, *trace, r, req.max_latency_ms, req.min_device_blocks);
  write_search_result(a.out, r);
  cli::print_search_summary(r, space);
  std::printf("results in %s/search.json and %s/search.csv; retrain with: nasc train --from %s/search.json\n",
              a.out.c_str(), a.out.c_str(), a.out.c_str());
  return 0;
}

// One flag per search option, from its declaration; the default shown is SearchOptions' unless the budget sets it
// (whose help says so).
void add_option_flags(CLI::App& app, SearchArgs& a) {
  const nasc::SearchOptions defaults, quick = nasc::budget_options("quick");
  for (const nasc::SearchOption& o : nasc::search_options()) {
    auto f = std::make_unique<OptionFlag>();
    f->option = &o;
    std::string help = o.help;
    if (o.show(defaults) == o.show(quick)) help += nasc::cat(" (default ", o.show(defaults), ")");
    const std::string flag = "--" + o.flag;
    if (o.is_flag)
      f->cli = app.add_flag(flag, f->set, help + "; --" + o.flag + "=false turns it off");
    else
      f->cli = app.add_option(flag, f->text, help + "; " + o.values);
    a.options.push_back(std::move(f));
  }
}

nasc::cli::Action setup_search(CLI::App& app) {
  auto a = std::make_shared<SearchArgs>();
  a->scenario.add_to(app);
  app.add_option("--data", a->data, std::string("Data: ") + nasc::kDataSpecForms)
      ->capture_default_str();
  app.add_option("--strategy", a->strategy,
                 nasc::cat(nasc::Strategy::accepted_forms(), ". largest-feasible is the slowest network that meets T, "
                           "max-flops-feasible the one with the most multiply-accumulates; they and fixed:OP train "
                           "nothing and read no data"))
      ->capture_default_str();
  app.add_option("--max-latency", a->max_latency_ms, "Latency threshold T_max in ms (device + link + server)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--latency-frac", a->latency_frac,
                 "Threshold relative to the space: T_max = floor + F x (latency of the all-k5_e6 network at its best "
                 "split - floor); 0 = the oracle floor, 1 = no constraint on that network")
      ->check(CLI::Range(0.0, 10.0));
  app.add_option("--budget", a->budget,
                 "quick (8 epochs on all images: about 1.5 min for nasc on fmnist on a 2-core CPU) or paper (50 epochs, for a GPU)")
      ->check(CLI::IsMember({"quick", "paper"}))
      ->capture_default_str();
  app.add_option("--config", a->config,
                 "Search options from a JSON file: an object of option fields (as search.json's \"options\" "
                 "records them) or an experiment config, whose \"search\" object is read; over the budget's, "
                 "and under the flags given")
      ->check(CLI::ExistingFile);
  add_option_flags(app, *a);
  app.add_option("--link-trace", a->link_trace,
                 "A recorded uplink (Mahimahi, or CSV of seconds,mbps[,delay_ms]): each split's uplink is priced at "
                 "--latency-quantile of what sending its payload takes over the trace (one request every 10 ms, "
                 "--delay added), so the answer meets T at that quantile; search.json's link_trace says what it "
                 "does over the trace, at its split and with the best split per request. The downlink stays "
                 "--downlink (or --bandwidth)")
      ->check(CLI::ExistingFile);
  app.add_option("--latency-quantile", a->latency_quantile,
                 "With --link-trace: the quantile of the trace's transfer times a split is priced at (default 0.95, "
                 "the p95; 0.5 the median)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--truth", a->truth,
                 "Table of true accuracies of the space (e.g. truth/nas-bench-macro-cifar10.json for --space nbmacro): "
                 "the result gains the answer's true accuracy, the best one that meets T and the regret")
      ->check(CLI::ExistingFile);
  app.add_option("--out", a->out, "Run directory: search.json, search.csv, checkpoint/")->capture_default_str();
  app.add_flag("--resume", a->resume, "Continue the search from the checkpoint in --out");
  nasc::cli::add_device_option(app, a->device);
  nasc::cli::add_threads_option(app, a->threads);
  return [a] { return run_search(*a); };
}

}  // namespace

NASC_COMMAND(search, "search", "Search architecture and split point under a latency threshold (or a baseline)",
             setup_search);
