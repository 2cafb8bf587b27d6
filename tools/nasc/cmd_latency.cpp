// nasc latency: the latency model's breakdown of an architecture at one split, its best split or every split,
// and the oracle (latency floor of the whole space) for a device profile, a server profile and a link.
#include <cstdio>
#include <iostream>

#include "command.h"
#include "common/error.h"
#include "latency/estimator.h"

namespace {

struct LatencyArgs {
  std::string space = "fmnist";
  std::string arch;  // empty: the space's default architecture
  std::string device_profile, server_profile;
  double bandwidth_mbps = 0;
  double downlink_mbps = 0;  // 0: same as the uplink
  double delay_ms = 0;
  std::string encoding = "fp32";
  std::string split = "best";  // N, best or all
  int min_device_blocks = 0;
  bool return_result = false;
  bool oracle = false;
  bool json = false;
};

std::string split_label(const nasc::Space& s, int p) {
  if (p == 0) return "server only (raw input)";
  if (p == s.num_blocks()) return "device only";
  return "after " + s.block_name(p - 1);
}

void print_header() {
  std::printf("%-5s %-24s %10s %10s %10s %10s %10s %10s\n", "split", "cut", "payload B", "device ms", "uplink ms",
              "server ms", "down ms", "total ms");
}

void print_row(const nasc::Space& s, const nasc::LatencyBreakdown& r, bool best) {
  std::printf("%-5d %-24s %10lld %10.3f %10.3f %10.3f %10.3f %10.3f%s\n", r.split, split_label(s, r.split).c_str(),
              (long long)r.payload_bytes, r.device_ms, r.uplink_ms, r.server_ms, r.downlink_ms, r.total_ms,
              best ? "  <- best" : "");
}

int run_latency(const LatencyArgs& a) {
  nasc::Space space(nasc::SpaceConfig::load(a.space));
  nasc::HardwareProfile device = nasc::HardwareProfile::load(a.device_profile);
  nasc::HardwareProfile server = nasc::HardwareProfile::load(a.server_profile);
  nasc::LinkModel link{a.bandwidth_mbps, a.downlink_mbps > 0 ? a.downlink_mbps : a.bandwidth_mbps, a.delay_ms,
                       a.return_result};
  nasc::LatencyEstimator est(space, device, server, link, nasc::parse_encoding(a.encoding));
  nasc::json setting = {{"space", space.name()},
                        {"device_profile", a.device_profile},
                        {"server_profile", a.server_profile},
                        {"link", link.to_json()},
                        {"encoding", a.encoding},
                        {"min_device_blocks", a.min_device_blocks}};

  if (a.oracle) {
    nasc::LatencyEstimator::Optimum opt = est.oracle(a.min_device_blocks);
    if (a.json) {
      setting["oracle"] = {{"arch", space.format_arch(opt.arch)}, {"latency", opt.latency.to_json()}};
      std::cout << setting.dump(2) << "\n";
      return 0;
    }
    std::printf("latency floor of space %s: %.3f ms at split %d (%s)\n", space.name().c_str(), opt.latency.total_ms,
                opt.latency.split, split_label(space, opt.latency.split).c_str());
    std::printf("architecture: %s\n\n", space.format_arch(opt.arch).c_str());
    print_header();
    print_row(space, opt.latency, true);
    return 0;
  }

  nasc::Arch arch = a.arch.empty() ? space.default_arch() : space.parse_arch(a.arch);
  nasc::LatencyBreakdown best = est.best_split(arch, a.min_device_blocks);
  std::vector<nasc::LatencyBreakdown> rows;
  if (a.split == "best") {
    rows.push_back(best);
  } else if (a.split == "all") {
    for (int p = a.min_device_blocks; p <= space.num_blocks(); ++p) rows.push_back(est.breakdown(arch, p));
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
    if (p < a.min_device_blocks)
      nasc::fail("--split ", p, " is below --min-device-blocks ", a.min_device_blocks);
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
              a.encoding.c_str(), link.return_result ? ", result returned" : "");
  std::printf("device profile %s (%s), server profile %s (%s)\n\n", a.device_profile.c_str(),
              device.meta().description.c_str(), a.server_profile.c_str(), server.meta().description.c_str());
  print_header();
  for (auto& r : rows) print_row(space, r, a.split != "best" && r.split == best.split);
  return 0;
}

nasc::cli::Action setup_latency(CLI::App& app) {
  auto a = std::make_shared<LatencyArgs>();
  app.add_option("--space", a->space, "Preset (hwnas-cifar, hwnas-cifar10, hwnas-imagenet, fmnist, tiny) or a space JSON file")
      ->capture_default_str();
  CLI::Option* arch = app.add_option("--arch", a->arch, "Architecture: comma-separated op per layer (default: the space's default)");
  app.add_option("--device-profile", a->device_profile, "Hardware profile (JSON) of the device")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--server-profile", a->server_profile, "Hardware profile (JSON) of the edge server")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--bandwidth", a->bandwidth_mbps, "Uplink bandwidth, Mbit/s")
      ->required()
      ->check(CLI::PositiveNumber);
  app.add_option("--downlink", a->downlink_mbps, "Downlink bandwidth, Mbit/s (default: the uplink's)")
      ->check(CLI::PositiveNumber);
  app.add_option("--delay", a->delay_ms, "One-way link delay, ms")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--encoding", a->encoding, "Payload encoding of the split tensor")
      ->check(CLI::IsMember({"fp32", "fp16", "int8"}))
      ->capture_default_str();
  CLI::Option* split = app.add_option("--split", a->split, "Split index N (blocks [0,N) on the device), best, or all (a table)")
      ->capture_default_str();
  app.add_option("--min-device-blocks", a->min_device_blocks, "Forbid splits before this block (privacy)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_flag("--return-result", a->return_result, "The server sends the class scores back (downlink transfer)");
  app.add_flag("--oracle", a->oracle, "Print the latency floor of the space: best architecture and split")
      ->excludes(arch)
      ->excludes(split);
  app.add_flag("--json", a->json, "Print JSON instead of a table");
  return [a] { return run_latency(*a); };
}

}  // namespace

NASC_COMMAND(latency, "latency", "Latency model: device + link + server breakdown, best split, oracle floor",
             setup_latency);
