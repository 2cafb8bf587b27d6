// nasc latency: the latency model's breakdown of an architecture at one split, its best split or every split,
// and the oracle (latency floor of the whole space) for a device profile, a server profile and a link; over a
// link trace, each split's latency distribution and that of the per-request best split.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <iostream>

#include "command.h"
#include "common/error.h"
#include "common/stats.h"
#include "latency/estimator.h"
#include "deploy/split_policy.h"
#include "latency/trace_latency.h"
#include "scenario_args.h"

namespace {

struct LatencyArgs {
  nasc::cli::ScenarioArgs scenario;  // the same options and defaults as nasc search and nasc experiment
  std::string arch;                  // empty: the space's default architecture
  std::string split = "best";        // N, best or all
  bool oracle = false;
  bool json = false;
  std::string link_trace, downlink_trace;  // a varying link instead of --bandwidth
  double max_latency_ms = std::numeric_limits<double>::quiet_NaN();
  double trace_step_ms = 10;
};

// nasc client --split adaptive over the same requests: its policy picks each split from the transfers of the
// requests before (so it lags the link), starting from --bandwidth, and learns from the one it sent.
// at_split[p - floor][i]: request i's latency at split p.
struct AdaptiveRun {
  std::vector<double> latencies;
  nasc::json report;
  int64_t switches = 0, probes = 0;
};
AdaptiveRun adaptive_over_trace(const nasc::LatencyEstimator& est, const nasc::Arch& arch, int floor,
                                const std::vector<std::vector<double>>& at_split) {
  using namespace nasc;
  std::vector<int> splits;
  std::vector<double> downlink;  // per split: what the result costs on the way back
  for (int p = floor; p <= est.space().num_blocks(); ++p) {
    splits.push_back(p);
    downlink.push_back(est.breakdown(arch, p).downlink_ms);
  }
  const std::vector<SplitCost> costs = split_costs(est, arch, splits);
  SplitPolicyOptions po;
  po.link.initial_mbps = est.link().uplink_mbps;
  po.link.delay_ms = est.link().delay_ms;
  po.downlink_mbps = est.link().return_result ? est.link().downlink_mbps : 0.0;
  po.probe_every = 10;
  SplitPolicy policy(costs, po);
  AdaptiveRun run;
  for (size_t i = 0; i < at_split.front().size(); ++i) {
    const int p = policy.choose();
    const SplitCost& c = costs[size_t(p - floor)];
    const double ms = at_split[size_t(p - floor)][i];
    run.latencies.push_back(ms);
    const double down = c.result_bytes > 0 ? downlink[size_t(p - floor)] : 0.0;
    policy.observe(p, c.payload_bytes, c.payload_bytes > 0 ? ms - c.device_ms - c.server_ms - down : 0.0);
  }
  run.report = policy.report();
  run.switches = policy.switches();
  run.probes = policy.probes();
  return run;
}

std::string share(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * v);
  return std::isnan(v) ? std::string("-") : std::string(buf);
}

void print_trace_header(const LatencyArgs& a, const nasc::cli::Scenario& sc, const nasc::Arch& arch,
                        const nasc::LinkTrace& up) {
  using namespace nasc;
  std::vector<double> windows = up.window_mbps();
  std::sort(windows.begin(), windows.end());
  std::printf("space %s, %s, %s payload, one-way delay %.3g ms added to each transfer\n", sc.space->name().c_str(),
              sc.space->format_arch(arch).c_str(), a.scenario.encoding.c_str(), sc.latency->link().delay_ms);
  std::printf("uplink trace %s (%s): %.1f s, looping; Mbit/s per second p10 %.2f, p50 %.2f, p90 %.2f, mean %.2f\n",
              up.name().c_str(), up.format().c_str(), up.period_ms() / 1000, quantile_sorted(windows, 0.1),
              quantile_sorted(windows, 0.5), quantile_sorted(windows, 0.9), up.mean_mbps());
  std::printf("a request every %.3g ms over one loop%s\n\n", a.trace_step_ms,
              std::isnan(a.max_latency_ms) ? "" : cat(", T = ", a.max_latency_ms, " ms").c_str());
  std::printf("%-8s %-24s %10s %10s %10s %10s %9s\n", "split", "cut", "payload B", "p50 ms", "p95 ms", "mean ms",
              "within T");
}

// The --json document's description of the trace and threshold.
nasc::json with_trace(const LatencyArgs& a, const nasc::LinkTrace& up, nasc::json setting) {
  using nasc::json;
  setting["trace"] = {{"uplink", a.link_trace},
                      {"downlink", a.downlink_trace.empty() ? json(nullptr) : json(a.downlink_trace)},
                      {"format", up.format()},
                      {"period_s", up.period_ms() / 1000},
                      {"mean_mbps", up.mean_mbps()},
                      {"step_ms", a.trace_step_ms}};
  setting["max_latency_ms"] = std::isnan(a.max_latency_ms) ? json(nullptr) : json(a.max_latency_ms);
  return setting;
}

// Each split's latency over the trace (a request every step, independent of the others), the adaptive client's
// and the oracle's.
int run_over_trace(const LatencyArgs& a, const nasc::cli::Scenario& sc, const nasc::Arch& arch, nasc::json setting) {
  using namespace nasc;
  const Space& space = *sc.space;
  const LatencyEstimator& est = *sc.latency;
  const LinkTrace up = LinkTrace::load(a.link_trace);
  std::optional<LinkTrace> down;
  if (!a.downlink_trace.empty()) down = LinkTrace::load(a.downlink_trace);
  const TraceRequests rq{a.trace_step_ms, down ? &*down : nullptr};
  const int floor = a.scenario.min_device_blocks;
  if (a.split != "all" && a.split != "best") fail("--split with --link-trace: expected all or best (the default)");
  int best_p = floor;
  double best_p95 = std::numeric_limits<double>::infinity();
  std::vector<LatencySummary> per_split;
  std::vector<std::vector<double>> at_split;
  for (int p = floor; p <= space.num_blocks(); ++p) {
    at_split.push_back(latencies_over_trace(est, arch, p, up, rq));
    per_split.push_back(LatencySummary::of(at_split.back(), a.max_latency_ms));
    if (per_split.back().p95 < best_p95) best_p95 = per_split.back().p95, best_p = p;
  }
  const LatencySummary oracle = LatencySummary::of(oracle_over_trace(est, arch, floor, up, rq), a.max_latency_ms);
  const AdaptiveRun adaptive_run = adaptive_over_trace(est, arch, floor, at_split);
  const LatencySummary adaptive = LatencySummary::of(adaptive_run.latencies, a.max_latency_ms);
  if (!a.json) print_trace_header(a, sc, arch, up);
  json rows = json::array();
  for (int p = floor; p <= space.num_blocks(); ++p) {
    const LatencySummary& s = per_split[size_t(p - floor)];
    const LatencyBreakdown b = est.breakdown(arch, p);
    json row = s.to_json();
    row["split"] = p;
    row["payload_bytes"] = b.payload_bytes;
    rows.push_back(row);
    if (!a.json && (a.split == "all" || p == best_p))
      std::printf("%-8d %-24s %10lld %10.3f %10.3f %10.3f %9s%s\n", p, space.describe_split(p).c_str(),
                  (long long)b.payload_bytes, s.p50, s.p95, s.mean, share(s.share_within).c_str(),
                  a.split == "all" && p == best_p ? "  <- best p95" : "");
  }
  if (a.json) {
    setting["arch"] = space.format_arch(arch);
    setting["splits"] = rows;
    setting["best_static_split"] = best_p;
    setting["oracle"] = oracle.to_json();
    setting["adaptive"] = adaptive.to_json();
    setting["adaptive"]["policy"] = adaptive_run.report;
    std::cout << with_trace(a, up, setting).dump(2) << "\n";
    return 0;
  }
  std::printf("%-8s %-24s %10s %10.3f %10.3f %10.3f %9s\n", "adaptive",
              cat(adaptive_run.switches, " switches, ", adaptive_run.probes, " probes").c_str(), "-", adaptive.p50,
              adaptive.p95, adaptive.mean, share(adaptive.share_within).c_str());
  std::printf("%-8s %-24s %10s %10.3f %10.3f %10.3f %9s\n", "oracle", "best split of each request", "-", oracle.p50,
              oracle.p95, oracle.mean, share(oracle.share_within).c_str());
  return 0;
}

void print_header() {
  std::printf("%-5s %-24s %10s %10s %10s %10s %10s %10s\n", "split", "cut", "payload B", "device ms", "uplink ms",
              "server ms", "down ms", "total ms");
}

void print_row(const nasc::Space& s, const nasc::LatencyBreakdown& r, bool best) {
  std::printf("%-5d %-24s %10lld %10.3f %10.3f %10.3f %10.3f %10.3f%s\n", r.split, s.describe_split(r.split).c_str(),
              (long long)r.payload_bytes, r.device_ms, r.uplink_ms, r.server_ms, r.downlink_ms, r.total_ms,
              best ? "  <- best" : "");
}

int run_latency(const LatencyArgs& a) {
  nasc::cli::Scenario sc = nasc::cli::load_scenario(a.scenario);
  const nasc::Space& space = *sc.space;
  const nasc::LatencyEstimator& est = *sc.latency;
  const nasc::LinkModel& link = est.link();
  const int min_device_blocks = a.scenario.min_device_blocks;
  if (min_device_blocks > space.num_blocks())
    nasc::fail("--min-device-blocks ", min_device_blocks, ": expected 0..", space.num_blocks());
  nasc::json setting = {{"space", space.name()},
                        {"device_profile", sc.device_profile_path},
                        {"server_profile", sc.server_profile_path},
                        {"link", link.to_json()},
                        {"encoding", a.scenario.encoding},
                        {"min_device_blocks", min_device_blocks}};

  if (a.oracle) {
    nasc::LatencyEstimator::Optimum opt = est.oracle(min_device_blocks);
    if (a.json) {
      setting["oracle"] = {{"arch", space.format_arch(opt.arch)}, {"latency", opt.latency.to_json()}};
      std::cout << setting.dump(2) << "\n";
      return 0;
    }
    std::printf("latency floor of space %s: %.3f ms at split %d (%s)\n", space.name().c_str(), opt.latency.total_ms,
                opt.latency.split, space.describe_split(opt.latency.split).c_str());
    std::printf("architecture: %s\n\n", space.format_arch(opt.arch).c_str());
    print_header();
    print_row(space, opt.latency, true);
    return 0;
  }

  nasc::Arch arch = a.arch.empty() ? space.default_arch() : space.parse_arch(a.arch);
  if (!a.link_trace.empty()) return run_over_trace(a, sc, arch, setting);
  if (!a.downlink_trace.empty()) nasc::fail("--downlink-trace needs --link-trace (the uplink's)");
  nasc::LatencyBreakdown best = est.best_split(arch, min_device_blocks);
  std::vector<nasc::LatencyBreakdown> rows;
  if (a.split == "best") {
    rows.push_back(best);
  } else if (a.split == "all") {
    for (int p = min_device_blocks; p <= space.num_blocks(); ++p) rows.push_back(est.breakdown(arch, p));
  } else {
    const int p = nasc::cli::parse_int(a.split).value_or(-1);
    if (p < 0 || p > space.num_blocks())
      nasc::fail("--split '", a.split, "': expected a split index 0..", space.num_blocks(), ", best or all");
    if (p < min_device_blocks)
      nasc::fail("--split ", p, " is below --min-device-blocks ", min_device_blocks);
    rows.push_back(est.breakdown(arch, p));
  }

  if (a.json) {
    nasc::json js = nasc::json::array();
    for (auto& r : rows) js.push_back(r.to_json());
    setting["arch"] = space.format_arch(arch);
    setting["splits"] = js;
    setting["best"] = best.to_json();
    std::cout << setting.dump(2) << "\n";
    return 0;
  }
  std::printf("space %s, %s, link %.3g/%.3g Mbit/s up/down, delay %.3g ms, %s payload%s\n", space.name().c_str(),
              space.format_arch(arch).c_str(), link.uplink_mbps, link.downlink_mbps, link.delay_ms,
              a.scenario.encoding.c_str(), link.return_result ? ", result returned" : "");
  std::printf("device profile %s (%s), server profile %s (%s)\n\n", sc.device_profile_path.c_str(),
              sc.device->meta().description.c_str(), sc.server_profile_path.c_str(),
              sc.server->meta().description.c_str());
  print_header();
  for (auto& r : rows) print_row(space, r, a.split != "best" && r.split == best.split);
  return 0;
}

nasc::cli::Action setup_latency(CLI::App& app) {
  auto a = std::make_shared<LatencyArgs>();
  a->scenario.add_to(app);
  CLI::Option* arch = app.add_option("--arch", a->arch, "Architecture: comma-separated op per layer (default: the space's default)");
  CLI::Option* split = app.add_option("--split", a->split, "Split index N (blocks [0,N) on the device), best, or all (a table)")
      ->capture_default_str();
  app.add_flag("--oracle", a->oracle, "Print the latency floor of the space: best architecture and split")
      ->excludes(arch)
      ->excludes(split);
  app.add_flag("--json", a->json, "Print JSON instead of a table");
  CLI::Option* trace =
      app.add_option("--link-trace", a->link_trace,
                     "Uplink trace instead of --bandwidth: a Mahimahi file (one 1500-byte delivery time in ms per "
                     "line) or a CSV with header seconds,mbps[,delay_ms]; it loops. Prints each split's p50, p95, "
                     "mean and share within --max-latency over the trace, and the per-request best split's")
          ->check(CLI::ExistingFile)
          ->excludes("--oracle");
  app.add_option("--downlink-trace", a->downlink_trace,
                 "Downlink trace for the returned result (with --return-result; default: the constant --downlink)")
      ->check(CLI::ExistingFile);
  app.add_option("--max-latency", a->max_latency_ms, "Threshold T in ms for the share of requests within it (traces)")
      ->check(CLI::PositiveNumber)
      ->needs(trace);
  app.add_option("--trace-step-ms", a->trace_step_ms, "One request every this many ms over one loop of the trace")
      ->check(CLI::Range(0.01, 1e6))
      ->capture_default_str()
      ->needs(trace);
  return [a] { return run_latency(*a); };
}

}  // namespace

NASC_COMMAND(latency, "latency", "Latency model: device + link + server breakdown, best split, oracle floor",
             setup_latency);
