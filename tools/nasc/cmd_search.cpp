// nasc search: joint architecture and split-point search (or one of its baselines) under a latency threshold.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "command.h"
#include "common/error.h"
#include "data/data_spec.h"
#include "nn/device.h"
#include "scenario_args.h"
#include "search/budget.h"
#include "search/strategy.h"
#include "train/trainer.h"

namespace {

struct SearchArgs {
  nasc::cli::ScenarioArgs scenario;
  std::string data = "fmnist";
  std::string strategy = "nasc";
  std::string budget = "quick";
  double max_latency_ms = 0;  // 0: unconstrained (only meaningful for accuracy-only)
  double latency_frac = -1;   // >= 0: T_max = floor + frac * (largest network's latency - floor)
  int epochs = 0;             // overrides the budget's when > 0
  int64_t train_limit = -1;   // overrides the budget's when >= 0
  int64_t eval_limit = -1;    // likewise
  int batch_size = 0;
  int theta_batch_size = 0;
  int lambda = 0;            // the following override SearchOptions' defaults when set
  double lr = 0;
  double delta_init = 0;
  int warmup_epochs = -1;
  int rescore = -1;
  double fill_budget = -1;
  bool sandwich = false;
  bool shared_kernels = false;
  std::string ranking;       // feasible | paper (empty: the default, feasible)
  std::string weight_paths;  // fair | theta | uniform (empty: the default, fair)
  bool zero_init_residual = false;
  std::string truth;
  std::string out = "runs/search";
  std::string device = "auto";
  int threads = 0;
  uint64_t seed = 1;
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
  else if (r.contains("rescored"))
    std::printf("selection     %s\n", r["selection"].get<std::string>().c_str());
  if (!r["supernet_val_acc"].is_null())
    std::printf("supernet validation accuracy %.2f%% (before retraining)\n", 100 * r["supernet_val_acc"].get<double>());
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

int run_search(const SearchArgs& a) {
  using namespace nasc;
  namespace fs = std::filesystem;
  cli::Scenario sc = cli::load_scenario(a.scenario);
  const Space& space = *sc.space;
  SearchRequest req;
  req.strategy = Strategy::parse(a.strategy, space);
  req.options = budget_options(a.budget);
  if (a.epochs > 0) req.options.epochs = a.epochs;
  if (a.train_limit >= 0) req.options.train_limit = a.train_limit;
  if (a.eval_limit >= 0) req.options.eval_limit = a.eval_limit;
  if (a.batch_size > 0) req.options.batch_size = a.batch_size;
  if (a.theta_batch_size > 0) req.options.theta_batch_size = a.theta_batch_size;
  if (a.lambda > 0) req.options.lambda = a.lambda;
  if (a.lr > 0) req.options.lr = a.lr;
  if (a.delta_init > 0) req.options.delta_init = a.delta_init;
  if (a.warmup_epochs >= 0) req.options.warmup_epochs = a.warmup_epochs;
  if (a.rescore >= 0) req.options.rescore = a.rescore;
  if (a.fill_budget >= 0) req.options.fill_budget = a.fill_budget;
  if (a.sandwich) req.options.sandwich = true;
  if (a.shared_kernels) req.options.shared_kernels = true;
  if (!a.ranking.empty()) req.options.feasible_sampling = a.ranking == "feasible";
  if (!a.weight_paths.empty()) {
    req.options.fair_sampling = a.weight_paths == "fair";
    req.options.uniform_weights = a.weight_paths == "uniform";
  }
  if (a.zero_init_residual) req.options.zero_init_residual = true;
  req.options.seed = a.seed;
  req.options.validate();
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
  else if (req.strategy.kind != Strategy::AccuracyOnly)
    fail("--max-latency is required for strategy ", req.strategy.name(), " (only accuracy-only runs unconstrained)");
  torch::Device device = select_device(a.device, a.threads);
  if (!a.resume && fs::exists(fs::path(a.out) / "checkpoint"))
    fail(a.out, " already holds a search checkpoint: pass --resume to continue it or choose another --out");
  // Check the threshold before loading data: an impossible one should fail at once.
  if (std::isfinite(req.max_latency_ms) && req.strategy.kind != Strategy::AccuracyOnly)
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
  write_search_result(a.out, r);
  cli::print_search_summary(r, space);
  std::printf("results in %s/search.json and %s/search.csv; retrain with: nasc train --from %s/search.json\n",
              a.out.c_str(), a.out.c_str(), a.out.c_str());
  return 0;
}

nasc::cli::Action setup_search(CLI::App& app) {
  auto a = std::make_shared<SearchArgs>();
  a->scenario.add_to(app);
  app.add_option("--data", a->data, std::string("Data: ") + nasc::kDataSpecForms)
      ->capture_default_str();
  app.add_option("--strategy", a->strategy,
                 "nasc | accuracy-only | fixed:OP | device-only | server-only | random:N | largest-feasible (the "
                 "slowest network that meets T) | max-flops-feasible (the most multiply-accumulates that meet T); the "
                 "last two and fixed:OP train nothing and read no data")
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
  app.add_option("--epochs", a->epochs, "Override the budget's supernet epochs");
  app.add_option("--train-limit", a->train_limit, "Override the budget's number of training images (0 = all)");
  app.add_option("--batch-size", a->batch_size, "Override the minibatch size (default 128)");
  app.add_option("--theta-batch-size", a->theta_batch_size,
                 "Held-out images each theta step scores its samples on (default: the batch size); larger ranks "
                 "each pair of samples with less noise, at the cost of more forward passes")
      ->check(CLI::Range(1, 65536));
  const nasc::SearchOptions defaults;
  app.add_option("--eval-limit", a->eval_limit,
                 "Override the budget's number of held-out images that score the answer, --rescore's and random:N's "
                 "candidates after the search (quick 2000, paper all; 0 = all)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--lambda", a->lambda,
                 nasc::cat("Samples per step, for the weights and for theta each (default ", defaults.lambda, ")"))
      ->check(CLI::Range(2, 64));
  app.add_option("--lr", a->lr, nasc::cat("Supernet SGD learning rate, cosine-decayed (default ", defaults.lr, ")"))
      ->check(CLI::PositiveNumber);
  app.add_option("--delta-init", a->delta_init,
                 nasc::cat("ASNG step size delta at Delta = 1 (default ", defaults.delta_init, ")"))
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup-epochs", a->warmup_epochs,
                 "First epochs train the weights on uniformly sampled candidates with theta frozen (default 0)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--rescore", a->rescore,
                 "After the search, score the answer and up to K feasible samples of theta on the held-out images "
                 "of the final accuracy and return the most accurate (default 0: the mode as it is)")
      ->check(CLI::Range(0, 1000));
  app.add_option("--fill-budget", a->fill_budget,
                 "The answer must use at least this share of the threshold: a faster mode gives way to the most "
                 "probable configuration within [F x T, T], and --rescore draws from that band (default 0: off)")
      ->check(CLI::Range(0.0, 0.999));
  app.add_option("--ranking", a->ranking,
                 "How theta compares its samples: feasible (default: every sample drawn from theta within the "
                 "configurations that meet the threshold, ranked by loss alone) or paper (samples drawn freely, "
                 "those that meet T first by loss, the others after by how far they miss it)")
      ->check(CLI::IsMember({"feasible", "paper"}));
  app.add_option("--weight-paths", a->weight_paths,
                 "The paths a weight step trains: fair (default: every op of every layer once, FairNAS's strict "
                 "fairness), theta (lambda samples of theta, the paper's) or uniform (lambda uniform samples)")
      ->check(CLI::IsMember({"fair", "theta", "uniform"}));
  app.add_flag("--zero-init-residual", a->zero_init_residual,
               "The last batch norm of each residual block starts at zero, so that untrained ops start as the "
               "identity and do not drown the shared ones");
  app.add_flag("--shared-kernels", a->shared_kernels,
               "Supernet ops of a layer share one set of kernels (the largest op's: smaller ones use its first "
               "channels and centre taps) instead of each having its own; the supernet learns faster");
  app.add_flag("--sandwich", a->sandwich,
               "Each weight step also trains the largest and the smallest network, and every other path learns "
               "the largest's predictions (in-place distillation) instead of the labels: about 2x the step's cost");
  app.add_option("--truth", a->truth,
                 "Table of true accuracies of the space (e.g. truth/nas-bench-macro-cifar10.json for --space nbmacro): "
                 "the result gains the answer's true accuracy, the best one that meets T and the regret")
      ->check(CLI::ExistingFile);
  app.add_option("--out", a->out, "Run directory: search.json, search.csv, checkpoint/")->capture_default_str();
  app.add_flag("--resume", a->resume, "Continue the search from the checkpoint in --out");
  nasc::cli::add_seed_option(app, a->seed);
  nasc::cli::add_device_option(app, a->device);
  nasc::cli::add_threads_option(app, a->threads);
  return [a] { return run_search(*a); };
}

}  // namespace

NASC_COMMAND(search, "search", "Search architecture and split point under a latency threshold (or a baseline)",
             setup_search);
