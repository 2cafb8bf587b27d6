// The optimiser apart from the proxy: NASC's constrained ASNG, random search and regularised evolution run on a
// truth table (NAS-Bench-Macro) at equal numbers of evaluated networks, with an exact proxy and with noisy ones of
// a given Kendall tau, at thresholds placed at quantiles of the table networks' latency. Prints mean regret (points
// of true accuracy below the best network that meets T) with its standard deviation over seeds, and the share of
// seeds within 0.5 points; --csv writes the same rows.
// Run: build/bench_table_search [--device-profile profiles/cpu1-nbmacro.json] [--seeds 50] [--csv out.csv]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include "common/error.h"
#include "common/stats.h"
#include "latency/estimator.h"
#include "search/table_search.h"

using namespace nasc;

int main(int argc, char** argv) {
  CLI::App app{"Table-driven optimisers on a truth table: ASNG (NASC), random search, regularised evolution"};
  std::string truth_path = "truth/nas-bench-macro-cifar10.json", space_name = "nbmacro";
  std::string device_profile = "profiles/cpu1-nbmacro.json", server_profile, csv_path, encoding = "int8";
  double bandwidth = 10, delay = 5;
  int min_device_blocks = 1, seeds = 50, lambda = 2, population = 20, tournament = 5;
  double delta_init = 1.0, eval_noise = 0;
  bool device_only = false;
  std::vector<double> quantiles = {0.25, 0.5, 0.75}, taus = {1.0, 0.8, 0.6, 0.4}, thresholds;
  std::vector<int64_t> budgets = {8, 32, 100, 300};
  std::vector<std::string> variants = {"asng"};
  app.add_option("--truth", truth_path, "Truth table of the space")->capture_default_str();
  app.add_option("--space", space_name, "Space the table covers")->capture_default_str();
  app.add_option("--device-profile", device_profile, "Device hardware profile")->capture_default_str();
  app.add_option("--server-profile", server_profile, "Server hardware profile (default: the device's)");
  app.add_option("--bandwidth", bandwidth, "Link bandwidth, Mbit/s")->capture_default_str();
  app.add_option("--delay", delay, "Link one-way delay, ms")->capture_default_str();
  app.add_option("--encoding", encoding, "Payload encoding: fp32, fp16, int8")->capture_default_str();
  app.add_option("--min-device-blocks", min_device_blocks, "Privacy floor: splits p >= this")->capture_default_str();
  app.add_flag("--device-only", device_only, "Only the device-only split (p = B)");
  app.add_option("--quantiles", quantiles, "Thresholds at these quantiles of the networks' latency")->capture_default_str();
  app.add_option("--max-latency", thresholds,
                 "Thresholds in ms instead of --quantiles (e.g. an experiment's own, from its results)");
  app.add_option("--taus", taus, "Proxy quality: Kendall tau of the proxy with the truth (1 = exact)")->capture_default_str();
  app.add_option("--eval-noise", eval_noise,
                 "Fresh noise on every evaluation, points (a supernet scoring on one batch: ~4.4 at 128 images)")
      ->capture_default_str();
  app.add_option("--evaluations", budgets, "Evaluated networks per run")->capture_default_str();
  app.add_option("--seeds", seeds, "Runs per cell")->capture_default_str();
  app.add_option("--lambda", lambda, "ASNG samples per step")->capture_default_str();
  app.add_option("--delta-init", delta_init, "ASNG step size at Delta = 1")->capture_default_str();
  app.add_option("--asng", variants,
                 "ASNG variants to run: asng followed by any of +tie (infeasible samples tie), +start (theta starts "
                 "where half its samples meet T), +fs (samples drawn within the feasible set), +best (the answer is "
                 "the best-scored sample, not the mode), +bestsplit (each sample at its fastest split), +softW (rank by "
                 "error + W x violation / T), +rewardW (feasible samples ranked by error - W x capacity)")
      ->capture_default_str();
  app.add_option("--population", population, "Evolution: population size")->capture_default_str();
  app.add_option("--tournament", tournament, "Evolution: tournament size")->capture_default_str();
  app.add_option("--csv", csv_path, "Write the rows to this CSV file");
  CLI11_PARSE(app, argc, argv);

  try {
    const auto t0 = std::chrono::steady_clock::now();
    std::map<std::string, TableAsngOptions> asng;
    std::vector<std::string> methods;
    for (const std::string& v : variants) {
      TableAsngOptions o = TableAsngOptions::parse(v);
      if (o.lambda == 2) o.lambda = lambda;  // --lambda applies unless the name gives its own (asng-lN)
      o.delta_init = delta_init;
      asng[o.name()] = o;
      methods.push_back(o.name());
    }
    methods.push_back("random");
    methods.push_back("evolution");
    Space space(SpaceConfig::load(space_name));
    TruthTable truth = TruthTable::load(truth_path, space);
    HardwareProfile dev = HardwareProfile::load(device_profile);
    HardwareProfile srv = HardwareProfile::load(server_profile.empty() ? device_profile : server_profile);
    LatencyEstimator est(space, dev, srv, LinkModel{bandwidth, bandwidth, delay, false}, parse_encoding(encoding));
    const int floor = device_only ? space.num_blocks() : min_device_blocks;
    std::vector<double> ms;
    for (const Arch& a : truth.archs()) ms.push_back(est.best_split(a, floor).total_ms);
    std::sort(ms.begin(), ms.end());
    std::printf("truth %s (%zu networks), device %s, server %s, %g Mbit/s + %g ms, %s, splits >= %d\n",
                truth_path.c_str(), truth.size(), device_profile.c_str(),
                (server_profile.empty() ? device_profile : server_profile).c_str(), bandwidth, delay, encoding.c_str(),
                floor);
    std::string csv = "quantile,threshold_ms,feasible,best_true_acc,tau,noise_sd,method,evaluations,seeds,"
                      "mean_regret,sd_regret,share_within_0.5,mean_evaluations\n";
    // Each threshold with the quantile of the networks' latency it sits at.
    std::vector<std::pair<double, double>> cells;
    for (double q : quantiles)
      if (thresholds.empty()) cells.push_back({q, quantile_sorted(ms, q)});
    for (double t : thresholds)
      cells.push_back({double(std::upper_bound(ms.begin(), ms.end(), t) - ms.begin()) / double(ms.size()), t});
    for (auto [q, t] : cells) {
      TableProblem prob;
      prob.max_latency_ms = t;
      prob.min_device_blocks = floor;
      prob.eval_noise_sd = eval_noise;
      auto best = truth.best_feasible(est, prob.max_latency_ms, floor);
      if (!best) fail("quantile ", q, ": no network meets ", prob.max_latency_ms, " ms");
      std::printf("\nT = %.3f ms (quantile %.2f): %lld networks meet it, the best %s reaches %.2f%%\n",
                  prob.max_latency_ms, q, (long long)best->feasible, space.arch_digits(best->arch).c_str(),
                  best->accuracy);
      std::printf("%-6s %-8s %-16s %6s %12s %8s %8s\n", "tau", "noise", "method", "evals", "regret", "<=0.5", "evals");
      for (double tau : taus) {
        prob.noise_sd = noise_for_tau(truth, est, prob, tau);
        for (int64_t n : budgets)
          for (const std::string& method : methods) {
            std::vector<double> regrets;
            double evals = 0;
            for (int s = 1; s <= seeds; ++s) {
              prob.noise_seed = uint64_t(s) * 7919;  // one proxy per seed, shared by the three methods
              const auto variant = asng.find(method);
              TableSearchResult r = variant != asng.end()
                                        ? table_asng(truth, est, prob, n, variant->second, uint64_t(s))
                                    : method == "random"
                                        ? table_random(truth, est, prob, n, uint64_t(s))
                                        : table_evolution(truth, est, prob, n, std::min<int>(population, int(n)),
                                                          std::min<int>(tournament, std::min<int>(population, int(n))),
                                                          uint64_t(s));
              regrets.push_back(r.regret);
              evals += double(r.evaluations) / seeds;
            }
            double mean = 0, var = 0, within = 0;
            for (double r : regrets) mean += r / seeds, within += (r <= 0.5) / double(seeds);
            for (double r : regrets) var += (r - mean) * (r - mean) / std::max(1, seeds - 1);
            std::printf("%-6.2f %-8.3f %-16s %6lld %6.2f ± %4.2f %7.0f%% %8.1f\n", tau, prob.noise_sd, method.c_str(),
                        (long long)n, mean, std::sqrt(var), 100 * within, evals);
            csv += cat(q, ",", prob.max_latency_ms, ",", best->feasible, ",", best->accuracy, ",", tau, ",",
                       prob.noise_sd, ",", method, ",", n, ",", seeds, ",", mean, ",", std::sqrt(var), ",", within, ",",
                       evals, "\n");
          }
      }
    }
    if (!csv_path.empty()) write_text_atomic(csv_path, csv);
    std::printf("\n%.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_table_search: %s\n", e.what());
    return 1;
  }
  return 0;
}
