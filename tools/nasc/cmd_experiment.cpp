// nasc experiment: the grid of scenarios, bandwidths, thresholds, strategies and seeds behind the result tables,
// resumable run by run, ending in results.csv, results.md and plots.
#include <cstdio>
#include <filesystem>

#include "command.h"
#include "common/error.h"
#include "nn/device.h"
#include "report/experiment.h"

namespace {

struct ExperimentArgs {
  std::string config;
  std::string out;
  std::string device = "auto";
  int threads = 0;
  bool report_only = false;
  std::string shard = "1/1";
};

void print_missing(const nasc::ExperimentStats& s) {
  if (s.missing.empty()) return;
  std::printf("%zu of %d runs not finished yet:\n", s.missing.size(), s.total);
  for (size_t i = 0; i < s.missing.size() && i < 10; ++i) std::printf("  %s\n", s.missing[i].c_str());
  if (s.missing.size() > 10) std::printf("  ... and %zu more\n", s.missing.size() - 10);
}

int run_experiment_command(const ExperimentArgs& a) {
  using namespace nasc;
  namespace fs = std::filesystem;
  if (a.report_only) {
    if (!fs::exists(fs::path(a.out) / "experiment.json")) {  // a results.csv copied on its own: redraw from it
      if (!fs::exists(fs::path(a.out) / "results.csv"))
        fail("--report-only: ", a.out, " holds neither experiment.json nor results.csv: expected the --out of an "
             "experiment (nasc experiment --config FILE --out DIR makes one)");
      auto images = write_reports(a.out, fs::path(a.out).filename().string());
      std::printf("rewrote %s/results.md and %zu plot files in %s/plots\n", a.out.c_str(), images.size(),
                  a.out.c_str());
      return 0;
    }
    ExperimentStats s = report_experiment(a.out, {NASC_SOURCE_DIR});
    std::printf("merged %d of %d runs into %s/results.csv, results.md and %zu plot files\n", s.runs, s.total,
                a.out.c_str(), s.plots.size());
    print_missing(s);
    return 0;
  }
  if (a.config.empty()) fail("--config is required: an experiment JSON file such as configs/quick.json");
  const GridShare share = GridShare::parse(a.shard);
  // Bundled profiles resolve from the source tree too, so configs/*.json work from any directory.
  ExperimentConfig cfg = ExperimentConfig::load(a.config, {NASC_SOURCE_DIR});
  torch::Device device = select_device(a.device, a.threads);
  std::fprintf(stderr, "experiment %s on %s: %zu scenarios x %zu privacy floors x %zu bandwidths, %zu thresholds, "
               "%zu strategies, %zu seeds -> %s\n",
               cfg.name.c_str(), device_description(device).c_str(), cfg.scenarios.size(),
               cfg.min_device_blocks.size(), cfg.bandwidths_mbps.size(), cfg.num_thresholds(),
               cfg.strategies.size(), cfg.seeds.size(), a.out.c_str());
  ExperimentStats s = run_experiment(cfg, a.out, device, share);
  for (auto& name : s.skipped_scenarios) std::printf("skipped scenario %s (a file it names is absent)\n", name.c_str());
  std::printf("%d of %d runs finished (%d of them before), %d searches and %d trainings made now, %d retrainings "
              "shared\n", s.runs, s.total, s.runs_reused, s.searches_run, s.retrains_run, s.retrains_reused);
  print_missing(s);
  std::printf("results in %s/results.csv and %s/results.md, %zu plot files in %s/plots\n", a.out.c_str(),
              a.out.c_str(), s.plots.size(), a.out.c_str());
  return 0;
}

nasc::cli::Action setup_experiment(CLI::App& app) {
  auto a = std::make_shared<ExperimentArgs>();
  app.add_option("--config", a->config, "Experiment JSON: scenarios, bandwidths, thresholds, strategies, "
                                        "seeds, search budget and retraining recipe (e.g. configs/quick.json)");
  app.add_option("--out", a->out, "Experiment directory: runs/, retrain/, results.csv, results.md, plots/")
      ->required();
  app.add_flag("--report-only", a->report_only,
               "Run nothing: merge the finished runs in --out (all shards') into results.csv, results.md and plots/, "
               "and list the runs still missing");
  app.add_option("--shard", a->shard,
                 "K/N: make only shard K's runs of N (run i belongs to shard i mod N + 1); shards may run at once "
                 "into one --out, on one machine or many sharing it (scripts/slurm/experiment.sbatch)")
      ->capture_default_str();
  nasc::cli::add_device_option(app, a->device);
  nasc::cli::add_threads_option(app, a->threads);
  return [a] { return run_experiment_command(*a); };
}

}  // namespace

NASC_COMMAND(experiment, "experiment",
             "Run an experiment grid (scenarios x bandwidths x thresholds x strategies x seeds), resumably, and write "
             "tables and plots",
             setup_experiment);
