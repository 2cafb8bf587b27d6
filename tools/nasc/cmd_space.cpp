// nasc space: prints a search space's blocks, shapes, keys and payload sizes per split.
#include <cstdio>
#include <iostream>

#include "command.h"
#include "nn/blocks.h"
#include "nn/network.h"
#include "space/space.h"

namespace {

struct SpaceArgs {
  std::string space = "fmnist";
  bool json = false;
  bool config = false;
  int classes = 0;
  std::string name;
  std::string arch;
};

// One architecture: its op per layer, parameters (of the network nasc builds and trains) and multiply-accumulates.
int print_arch(const nasc::Space& s, const std::string& text) {
  const nasc::Arch a = s.parse_arch(text);
  nasc::Network net(s, a);
  const int64_t params = nasc::count_parameters(*net);
  if (s.num_ops() <= 10) std::printf("architecture %s (%s)\n", s.arch_digits(a).c_str(), s.format_arch(a).c_str());
  else std::printf("architecture %s\n", s.format_arch(a).c_str());
  std::printf("parameters   %lld\n", (long long)params);
  std::printf("MACs         %lld (multiply-accumulates at batch 1: convolutions and classifier; %.2f M)\n",
              (long long)s.macs(a), double(s.macs(a)) / 1e6);
  return 0;
}

int run_space(const SpaceArgs& args) {
  nasc::SpaceConfig cfg = nasc::SpaceConfig::load(args.space);
  if (args.classes > 0) cfg.num_classes = args.classes;
  if (!args.name.empty()) cfg.name = args.name;
  nasc::Space s(cfg);
  if (!args.arch.empty()) return print_arch(s, args.arch);
  if (args.config) {
    std::cout << s.config().to_json().dump(2) << "\n";
    return 0;
  }
  if (args.json) {
    std::cout << s.describe().dump(2) << "\n";
    return 0;
  }
  std::printf("space %s: input %dx%dx%d, %d classes, %d layers, %d blocks, %d ops per layer\n", s.name().c_str(),
              s.input_shape().c, s.input_shape().h, s.input_shape().w, s.num_classes(), s.num_layers(),
              s.num_blocks(), s.num_ops());
  std::printf("\n%-5s %-8s %-14s %-14s %-6s %s\n", "block", "name", "in", "out", "stride", "key (first op)");
  for (int b = 0; b < s.num_blocks(); ++b) {
    const auto& g = s.block(b);
    auto shape = [](const nasc::Shape& x) { return std::to_string(x.c) + "x" + std::to_string(x.h) + "x" + std::to_string(x.w); };
    auto keys = s.block_keys(b, 0);
    std::string k;
    for (auto& key : keys) k += (k.empty() ? "" : " + ") + key;
    std::printf("%-5d %-8s %-14s %-14s %-6d %s\n", b, s.block_name(b).c_str(), shape(g.in).c_str(),
                shape(g.out).c_str(), g.stride, k.c_str());
  }
  std::printf("\n%-5s %-14s %12s %12s %12s\n", "split", "tensor", "fp32 B", "fp16 B", "int8 B");
  for (int p = 0; p <= s.num_blocks(); ++p) {
    auto sh = s.boundary_shape(p);
    std::string t = p == 0 ? "input (raw)" : p == s.num_blocks() ? "(device only)" : std::to_string(sh.c) + "x" + std::to_string(sh.h) + "x" + std::to_string(sh.w);
    std::printf("%-5d %-14s %12lld %12lld %12lld\n", p, t.c_str(), (long long)s.payload_bytes(p, nasc::Encoding::Fp32),
                (long long)s.payload_bytes(p, nasc::Encoding::Fp16), (long long)s.payload_bytes(p, nasc::Encoding::Int8));
  }
  std::printf("\nops: ");
  for (int o = 0; o < s.num_ops(); ++o) std::printf("%s%s", o ? "," : "", s.op(o).name.c_str());
  std::printf("\ndefault architecture: %s\n", s.format_arch(s.default_arch()).c_str());
  return 0;
}

nasc::cli::Action setup_space(CLI::App& app) {
  auto args = std::make_shared<SpaceArgs>();
  app.add_option("--space", args->space,
                 "Preset (hwnas-cifar, hwnas-cifar10, hwnas-imagenet, nbmacro, fmnist, tiny) or a space JSON file")
      ->capture_default_str();
  app.add_flag("--json", args->json, "Print the full description as JSON instead of tables");
  app.add_flag("--config", args->config,
               "Print only the space's definition as JSON: a file that --space reads back (e.g. for own images)");
  app.add_option("--classes", args->classes, "Give the space this many classes (e.g. your image folders)")
      ->check(CLI::Range(2, 32767));
  app.add_option("--name", args->name, "Give the space this name (shown in results and messages)");
  app.add_option("--arch", args->arch,
                 "Print one architecture's parameter count and MACs instead: ops by name, comma-separated, or one "
                 "digit per layer (the op's index, as benchmark tables write it: 22212220)");
  return [args] { return run_space(*args); };
}

}  // namespace

NASC_COMMAND(space, "space", "Show a search space: blocks, shapes, HW-NAS-Bench keys, payload bytes per split", setup_space);
