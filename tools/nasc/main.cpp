// nasc: neural architecture search for split computing. A thin front over the nasc library.
#include <algorithm>
#include <iostream>
#include <string>

#include "command.h"
#include <c10/util/Exception.h>

#include "common/error.h"

namespace nasc::cli {

std::vector<Command>& commands() {
  static std::vector<Command> all;
  return all;
}

void add_device_option(CLI::App& app, std::string& device) {
  app.add_option("--device", device, "Compute device: auto (CUDA when available), cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
}

void add_threads_option(CLI::App& app, int& threads) {
  app.add_option("--threads", threads, "CPU threads for LibTorch (0 = all cores)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
}

void add_seed_option(CLI::App& app, uint64_t& seed) {
  app.add_option("--seed", seed, "Random seed (data order, augmentation, initialisation, sampling)")
      ->capture_default_str();
}

}  // namespace nasc::cli

int main(int argc, char** argv) {
  using namespace nasc::cli;
  CLI::App app{"nasc: joint neural architecture and split-point search for split computing (device + link + server)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("nasc ") + NASC_VERSION);
  auto& cmds = commands();
  std::sort(cmds.begin(), cmds.end(), [](const Command& a, const Command& b) { return a.name < b.name; });
  Action action;
  for (auto& c : cmds) {
    CLI::App* sub = app.add_subcommand(c.name, c.description);
    Action a = c.setup(*sub);
    sub->callback([&action, a] { action = a; });
  }
  // CLI11 reports a misspelt subcommand only as "A subcommand is required": name it and the choices instead.
  if (argc > 1 && argv[1][0] != '-' &&
      std::none_of(cmds.begin(), cmds.end(), [&](const Command& c) { return c.name == argv[1]; })) {
    std::string names;
    for (auto& c : cmds) names += (names.empty() ? "" : ", ") + c.name;
    std::cerr << "nasc: error: unknown subcommand '" << argv[1] << "': expected one of " << names << "\n";
    return 109;  // CLI11's exit code for extra positionals
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return action ? action() : 1;
  } catch (const nasc::Error& e) {
    std::cerr << "nasc: error: " << e.what() << "\n";
    return 2;
  } catch (const c10::Error& e) {
    std::cerr << "nasc: error: " << e.what_without_backtrace() << "\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "nasc: error: " << e.what() << "\n";
    return 3;
  }
}
