// Command-line options that describe a split-computing scenario (space, hardware profiles, link, payload
// encoding, privacy floor), shared by `nasc search` and `nasc experiment` so that they read the same way.
#pragma once
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "latency/estimator.h"

namespace nasc::cli {

struct ScenarioArgs {
  std::string space = "fmnist";
  std::string device_profile;  // default: profiles/cpu1-<space>.json
  std::string server_profile;  // default: profiles/cpu2-<space>.json
  double bandwidth_mbps = 10;
  double downlink_mbps = 0;  // 0: same as the uplink
  double delay_ms = 5;
  std::string encoding = "int8";
  int min_device_blocks = 1;  // privacy floor: raw input never leaves the device
  bool return_result = false;

  void add_to(CLI::App& app);
  LinkModel link() const;
};

// A scenario loaded: the space, both profiles and the estimator over them.
struct Scenario {
  std::unique_ptr<Space> space;
  std::unique_ptr<HardwareProfile> device, server;
  std::unique_ptr<LatencyEstimator> latency;
  std::string device_profile_path, server_profile_path;
};

Scenario load_scenario(const ScenarioArgs& args);

// profiles/<name> next to the working directory, else in the source tree the tool was built from.
std::string bundled_profile(const std::string& name);

}  // namespace nasc::cli
