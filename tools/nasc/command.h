// Subcommand registry of the `nasc` tool: each tools/nasc/cmd_*.cpp declares its options on a CLI11 sub-app,
// fills one config struct, and returns the action to run after parsing.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace nasc::cli {

using Action = std::function<int()>;
using Setup = std::function<Action(CLI::App&)>;

struct Command {
  std::string name;
  std::string description;
  Setup setup;
};

std::vector<Command>& commands();
inline bool register_command(Command c) {
  commands().push_back(std::move(c));
  return true;
}

// Options shared by several subcommands, with the same names and help everywhere.
void add_device_option(CLI::App& app, std::string& device);    // --device auto|cpu|cuda
void add_threads_option(CLI::App& app, int& threads);           // --threads N
void add_seed_option(CLI::App& app, uint64_t& seed);            // --seed N

// The whole of `text` as a decimal integer (a block index, a split), or nothing: "3x", "" and "1e2" are not.
inline std::optional<int> parse_int(const std::string& text) {
  size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (used == 0 || used != text.size()) return std::nullopt;
  return v;
}

}  // namespace nasc::cli

#define NASC_COMMAND(ident, name, description, setup) \
  static const bool nasc_command_##ident = ::nasc::cli::register_command({name, description, setup})
