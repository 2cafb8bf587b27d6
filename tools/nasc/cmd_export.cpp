// nasc export: cuts a trained network at a split into a head for the device and a tail for the server (folded
// LibTorch weights + ONNX), with a manifest that `nasc serve` and `nasc client` read.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "command.h"
#include "common/error.h"
#include "deploy/export.h"
#include "latency/estimator.h"
#include "scenario_args.h"

namespace {

// Scenario options left at these values take the search's recorded scenario, else ScenarioArgs' defaults.
struct ExportArgs {
  std::string from;
  std::string split;  // block index, "best", or empty: the search's split
  std::string splits;  // further splits served: "2,5,24", or "all" from the privacy floor on
  std::string out;    // default <from>/export
  std::string encoding;
  std::string device_profile, server_profile;
  double bandwidth_mbps = 0, downlink_mbps = 0, delay_ms = -1;
  int min_device_blocks = -1;
  bool return_result = false;
};

struct LatencySetup {
  std::unique_ptr<nasc::LatencyEstimator> latency;  // null when no profiles are known and none are needed
  nasc::json description = nullptr;
};

LatencySetup load_latency(const ExportArgs& a, const nasc::TrainedRun& run, nasc::Encoding enc, bool needed) {
  using namespace nasc;
  namespace fs = std::filesystem;
  const Space& space = run.network->space();
  const json& search = run.search;
  auto pick = [&](const std::string& given, const char* field, const std::string& bundled) {
    if (!given.empty()) return given;
    const auto recorded = json_get_or<std::string>(search, field, "", a.from);
    if (!recorded.empty() && fs::exists(recorded)) return recorded;
    return needed ? cli::bundled_profile(bundled + space.name() + ".json") : std::string();
  };
  const std::string dev = pick(a.device_profile, "device_profile", "cpu1-"),
                    srv = pick(a.server_profile, "server_profile", "cpu2-");
  if (dev.empty() != srv.empty())
    fail("the expected latency needs both profiles: give --device-profile and --server-profile");
  if (dev.empty()) return {};
  LinkModel link = search.contains("link") ? LinkModel::from_json(search["link"], a.from) : cli::ScenarioArgs{}.link();
  if (a.bandwidth_mbps > 0) link.uplink_mbps = link.downlink_mbps = a.bandwidth_mbps;
  if (a.downlink_mbps > 0) link.downlink_mbps = a.downlink_mbps;
  if (a.delay_ms >= 0) link.delay_ms = a.delay_ms;
  if (a.return_result) link.return_result = true;
  link.validate();
  LatencySetup s;
  s.latency =
      std::make_unique<LatencyEstimator>(space, HardwareProfile::load(dev), HardwareProfile::load(srv), link, enc);
  s.description = {{"device_profile", dev}, {"server_profile", srv}, {"link", link.to_json()}};
  return s;
}

// --min-device-blocks, else the search's, else the scenario default.
int privacy_floor(const ExportArgs& a, const nasc::TrainedRun& run) {
  return a.min_device_blocks >= 0 ? a.min_device_blocks
                                  : nasc::json_get_or<int>(run.search, "min_device_blocks",
                                                           nasc::cli::ScenarioArgs{}.min_device_blocks, a.from);
}

// The default split: --split N, best (the latency model's), or the search's.
int default_split(const ExportArgs& a, const nasc::TrainedRun& run, const LatencySetup& sc) {
  using namespace nasc;
  const int B = run.network->space().num_blocks();
  if (a.split == "best") return sc.latency->best_split(run.network->arch(), privacy_floor(a, run)).split;
  if (a.split.empty()) {
    const int split = run.search_split();
    if (split < 0) fail("--split is required for a train run directory: expected a block index 0..", B, " or best");
    return split;
  }
  const int split = cli::parse_int(a.split).value_or(-1);
  if (split < 0 || split > B) fail("--split '", a.split, "': expected a block index 0..", B, " or best");
  return split;
}

// --splits: the further splits served, "all" from the privacy floor on.
std::vector<int> further_splits(const ExportArgs& a, const nasc::TrainedRun& run) {
  using namespace nasc;
  const int B = run.network->space().num_blocks();
  std::vector<int> splits;
  if (a.splits == "all") {
    for (int q = privacy_floor(a, run); q <= B; ++q) splits.push_back(q);
    return splits;
  }
  std::stringstream in(a.splits);
  for (std::string item; !a.splits.empty() && std::getline(in, item, ',');) {
    const int q = cli::parse_int(item).value_or(-1);
    if (q < 0 || q > B)
      fail("--splits '", a.splits, "': '", item, "' is not a block index 0..", B, " (expected e.g. 2,5,", B,
           " or all)");
    splits.push_back(q);
  }
  return splits;
}

void print_export(const nasc::json& m, const nasc::ExportOptions& opt, int B, const std::string& out) {
  using namespace nasc;
  const int split = opt.split;
  const std::vector<int> served = m["head"]["block_range"].get<std::vector<int>>();
  if (m["splits"].size() > 1) {
    std::string list;
    for (const json& c : m["splits"]) list += cat(list.empty() ? "" : "|", c["split"].get<int>());
    std::printf("splits %s (default %d) of %d: head = blocks [0, %d) on the device, tail = blocks [%d, %d) on the "
                "server; each request names its split\n",
                list.c_str(), split, B, served[1], m["tail"]["block_range"][0].get<int>(), B);
  } else {
    std::printf("split %d of %d: head = blocks [0, %d) on the device, tail = blocks [%d, %d) on the server\n", split,
                B, split, split, B);
  }
  std::printf("payload %s, %lld bytes\n", m["payload"]["encoding"].get<std::string>().c_str(),
              (long long)m["payload"]["bytes"].get<int64_t>());
  if (!opt.latency.is_null())
    std::printf("expected latency %.3f ms (device %.3f + link %.3f + server %.3f)\n",
                opt.latency["total_ms"].get<double>(), opt.latency["device_ms"].get<double>(),
                opt.latency["uplink_ms"].get<double>() + opt.latency["downlink_ms"].get<double>(),
                opt.latency["server_ms"].get<double>());
  std::printf("exported to %s (manifest.json, head/, tail/)\n", out.c_str());
}

int run_export(const ExportArgs& a) {
  using namespace nasc;
  TrainedRun run = TrainedRun::load(a.from);
  const Arch& arch = run.network->arch();
  const Encoding enc = parse_encoding(
      !a.encoding.empty() ? a.encoding
                          : json_get_or<std::string>(run.search, "encoding", cli::ScenarioArgs{}.encoding, a.from));
  LatencySetup sc = load_latency(a, run, enc, a.split == "best");
  ExportOptions opt;
  opt.split = default_split(a, run, sc);
  opt.splits = further_splits(a, run);
  opt.encoding = enc;
  if (sc.latency) {
    opt.latency = sc.latency->breakdown(arch, opt.split).to_json();
    opt.latency.update(sc.description);
  }
  opt.source = {{"result", run.result_path},
                {"search", run.search.is_null() ? json(nullptr) : json(a.from + "/search.json")},
                {"test_accuracy", run.result.value("test_accuracy", json(nullptr))}};
  const std::string out = a.out.empty() ? a.from + "/export" : a.out;
  const json m = export_split(*run.network, run.normalizer, opt, out);
  print_export(m, opt, run.network->space().num_blocks(), out);
  return 0;
}

nasc::cli::Action setup_export(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  app.add_option("--from", a->from, "Train run directory (result.json) or search directory (search.json, retrained)")
      ->required();
  app.add_option("--split", a->split,
                 "Split index p (head = blocks [0,p)), or best (latency-minimal under the profiles); default: the "
                 "search's split");
  app.add_option("--splits", a->splits,
                 "Further splits the export serves, comma-separated block indices, or all (from the privacy floor "
                 "on): the head holds the blocks up to the deepest, the tail those from the shallowest, and the "
                 "client may cut each request at any of them");
  app.add_option("--out", a->out, "Output directory, must not exist or be empty (default <from>/export)");
  app.add_option("--encoding", a->encoding, "Payload encoding: fp32, fp16 or int8 (default: the search's, else int8)")
      ->check(CLI::IsMember({"fp32", "fp16", "int8"}));
  app.add_option("--device-profile", a->device_profile,
                 "Device hardware profile for the expected latency (default: the search's; for best, else "
                 "profiles/cpu1-<space>.json)");
  app.add_option("--server-profile", a->server_profile,
                 "Server hardware profile (default: the search's; for best, else profiles/cpu2-<space>.json)");
  app.add_option("--bandwidth", a->bandwidth_mbps, "Uplink (and downlink) Mbit/s (default: the search's, else 10)")
      ->check(CLI::PositiveNumber);
  app.add_option("--downlink", a->downlink_mbps, "Downlink Mbit/s (default: the uplink's)")->check(CLI::PositiveNumber);
  app.add_option("--delay", a->delay_ms, "One-way link delay, ms (default: the search's, else 5)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--min-device-blocks", a->min_device_blocks,
                 "For best: splits before this block are forbidden (default: the search's, else 1)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--return-result", a->return_result,
               "The server sends the class scores back (adds a downlink transfer)");
  return [a] { return run_export(*a); };
}

}  // namespace

NASC_COMMAND(export_cmd, "export",
             "Export a trained network's head and tail at a split (folded weights, ONNX, manifest)", setup_export);
