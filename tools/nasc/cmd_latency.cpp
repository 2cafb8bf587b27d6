// nasc latency: the latency model's breakdown of an architecture at one split, its best split or every split,
// and the oracle (latency floor of the whole space) for a device profile, a server profile and a link.
#include <cstdio>
#include <iostream>

#include "command.h"
#include "common/error.h"
#include "latency/estimator.h"
#include "scenario_args.h"

namespace {

struct LatencyArgs {
  nasc::cli::ScenarioArgs scenario;  // the same options and defaults as nasc search and nasc experiment
  std::string arch;                  // empty: the space's default architecture
  std::string split = "best";        // N, best or all
  bool oracle = false;
  bool json = false;
};

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
  nasc::LatencyBreakdown best = est.best_split(arch, min_device_blocks);
  std::vector<nasc::LatencyBreakdown> rows;
  if (a.split == "best") {
    rows.push_back(best);
  } else if (a.split == "all") {
    for (int p = min_device_blocks; p <= space.num_blocks(); ++p) rows.push_back(est.breakdown(arch, p));
  } else {
    int p = -1;
    try {
      size_t used = 0;
      p = std::stoi(a.split, &used);
      if (used != a.split.size()) p = -1;
    } catch (const std::exception&) {
    }
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
  return [a] { return run_latency(*a); };
}

}  // namespace

NASC_COMMAND(latency, "latency", "Latency model: device + link + server breakdown, best split, oracle floor",
             setup_latency);
