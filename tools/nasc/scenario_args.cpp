#include "scenario_args.h"

#include <filesystem>

#include "common/error.h"

namespace nasc::cli {

void ScenarioArgs::add_to(CLI::App& app) {
  app.add_option("--space", space, "Search space: preset (hwnas-cifar, hwnas-cifar10, hwnas-imagenet, nbmacro, fmnist, tiny) or JSON file")
      ->capture_default_str();
  app.add_option("--device-profile", device_profile,
                 "Hardware profile of the IoT device (default: profiles/cpu1-<space>.json)");
  app.add_option("--server-profile", server_profile,
                 "Hardware profile of the edge server (default: profiles/cpu2-<space>.json)");
  app.add_option("--bandwidth", bandwidth_mbps, "Uplink bandwidth, Mbit/s")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--downlink", downlink_mbps, "Downlink bandwidth, Mbit/s (default: the uplink's)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--delay", delay_ms, "One-way link delay, ms")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--encoding", encoding, "Payload encoding of the split tensor: fp32, fp16 or int8")
      ->check(CLI::IsMember({"fp32", "fp16", "int8"}))
      ->capture_default_str();
  app.add_option("--min-device-blocks", min_device_blocks,
                 "Privacy floor: splits before this block are forbidden (1 = raw input never leaves the device, "
                 "0 = sending the raw input is allowed)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_flag("--return-result", return_result, "The server sends the class scores back (adds a downlink transfer)");
}

LinkModel ScenarioArgs::link() const {
  LinkModel l{bandwidth_mbps, downlink_mbps > 0 ? downlink_mbps : bandwidth_mbps, delay_ms, return_result};
  l.validate();
  return l;
}

std::string bundled_profile(const std::string& name) {
  std::filesystem::path local = std::filesystem::path("profiles") / name;
  if (std::filesystem::exists(local)) return local.string();
  return (std::filesystem::path(NASC_SOURCE_DIR) / "profiles" / name).string();
}

Scenario load_scenario(const ScenarioArgs& a) {
  Scenario s;
  s.space = std::make_unique<Space>(SpaceConfig::load(a.space));
  s.device_profile_path = a.device_profile.empty() ? bundled_profile("cpu1-" + s.space->name() + ".json") : a.device_profile;
  s.server_profile_path = a.server_profile.empty() ? bundled_profile("cpu2-" + s.space->name() + ".json") : a.server_profile;
  s.device = std::make_unique<HardwareProfile>(HardwareProfile::load(s.device_profile_path));
  s.server = std::make_unique<HardwareProfile>(HardwareProfile::load(s.server_profile_path));
  s.latency = std::make_unique<LatencyEstimator>(*s.space, *s.device, *s.server, a.link(), parse_encoding(a.encoding));
  return s;
}

}  // namespace nasc::cli
