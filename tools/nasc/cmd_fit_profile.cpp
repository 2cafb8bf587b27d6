// nasc fit-profile: a hardware profile fitted from whole-network timings (a CSV of architectures and their
// latencies), for hardware that cannot run `nasc profile`.
#include <cstdio>
#include <iostream>

#include "command.h"
#include "common/error.h"
#include "latency/profile_fit.h"

namespace {

struct FitArgs {
  std::string timings, column, arch_column = "arch";
  std::string space = "hwnas-cifar";
  std::string reference, out;
  std::string device_class = "device";
  std::string description, processor, notes;
  nasc::ProfileFitOptions opt;
};

void print_quality(const char* name, const nasc::FitQuality& q) {
  if (q.rows == 0) return;
  std::printf("%-9s %5zu rows  R^2 %.5f  MAPE %6.3f%%  Spearman %.4f  max |error| %.4f ms\n", name, q.rows, q.r2,
              q.mape_pct, q.spearman, q.max_abs_err_ms);
}

int run_fit(const FitArgs& a) {
  const nasc::Space space(nasc::SpaceConfig::load(a.space));
  const nasc::HardwareProfile reference = nasc::HardwareProfile::load(a.reference);
  const auto rows = nasc::read_timings_csv(a.timings, space, a.arch_column, a.column);
  nasc::ProfileFit fit = nasc::fit_profile(space, rows, reference, a.opt);

  nasc::ProfileMeta& m = fit.profile.meta();
  m.device_class = a.device_class;
  m.description = a.description.empty() ? a.column + " (fitted from " + a.timings + ")" : a.description;
  m.processor = a.processor.empty() ? m.description : a.processor;
  m.libtorch_version = "n/a (fitted from whole-network timings)";
  m.date = nasc::utc_timestamp();
  m.tool_version = nasc::nasc_tool_version();
  m.notes = a.notes;
  m.fit["timings"] = a.timings;
  m.fit["column"] = a.column;
  m.fit["rows"] = rows.size();
  fit.profile.save(a.out);

  std::printf("fitted %d terms of space %s from %zu timings (%s, column %s); constant %.4f ms apportioned by %s\n",
              fit.terms, space.name().c_str(), rows.size(), a.timings.c_str(), a.column.c_str(), fit.constant_ms,
              a.reference.c_str());
  print_quality("fit", fit.train);
  print_quality("held out", fit.test);
  std::printf("wrote %s (%zu keys)\n", a.out.c_str(), fit.profile.entries().size());
  return 0;
}

nasc::cli::Action setup_fit(CLI::App& app) {
  auto a = std::make_shared<FitArgs>();
  app.add_option("--timings", a->timings, "CSV with a header row: one architecture and its latency(ies) per row")
      ->required();
  app.add_option("--column", a->column, "Column of latencies to fit, milliseconds per network at batch 1")->required();
  app.add_option("--arch-column", a->arch_column, "Column of architectures: one op name per layer, comma-separated")
      ->capture_default_str();
  app.add_option("--space", a->space, "Preset or space JSON file whose geometry the timed networks have")
      ->capture_default_str();
  app.add_option("--reference", a->reference,
                 "Measured profile of the same space: the constant of the fit (stem, head, convolutional skips) is "
                 "divided among those blocks in proportion to their latencies there")
      ->required();
  app.add_option("--out", a->out, "Profile file to write (JSON)")->required();
  app.add_option("--device-class", a->device_class, "Role of the timed machine: device or server")
      ->check(CLI::IsMember({"device", "server"}))
      ->capture_default_str();
  app.add_option("--description", a->description, "What the machine is (default: the column and the file)");
  app.add_option("--processor", a->processor, "Processor or accelerator name (default: the description)");
  app.add_option("--notes", a->notes, "Free text stored in the profile's metadata (say where the timings come from)");
  app.add_option("--holdout", a->opt.holdout, "Fraction of rows left out of the fit to measure its quality")
      ->check(CLI::Range(0.0, 0.9))
      ->capture_default_str();
  app.add_option("--seed", a->opt.seed, "Random seed choosing the held-out rows")->capture_default_str();
  app.add_option("--head-classes", a->opt.extra_head_classes,
                 "Also price the head's FC layer for these class counts (as the fitted one), for spaces of the same "
                 "geometry with other class counts, e.g. 10")
      ->check(CLI::Range(1, 100000));
  return [a] { return run_fit(*a); };
}

}  // namespace

NASC_COMMAND(fit_profile, "fit-profile",
             "Fit a hardware profile from whole-network timings (CSV of architecture, latency) by least squares",
             setup_fit);
