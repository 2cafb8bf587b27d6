// nasc predict-profile: a hardware profile for a space whose block shapes the source profile does not contain,
// priced by a block latency model fitted on the blocks it does (a published device, a space of one's own).
#include <cstdio>

#include "command.h"
#include "common/error.h"
#include "latency/block_model.h"

namespace {

struct PredictArgs {
  std::string source, space, source_reference, target_reference, out, description, check;
};

int run_predict(const PredictArgs& a) {
  const nasc::Space space(nasc::SpaceConfig::load(a.space));
  const auto source = nasc::HardwareProfile::load(a.source);
  const auto source_ref = nasc::HardwareProfile::load(a.source_reference);
  const auto target_ref = nasc::HardwareProfile::load(a.target_reference);
  nasc::ProfilePrediction pred = nasc::predict_profile(source, space, {&source_ref, &target_ref});

  nasc::ProfileMeta& m = pred.profile.meta();
  if (!a.check.empty()) {
    const nasc::PredictionCheck c = nasc::check_prediction(pred, space, nasc::HardwareProfile::load(a.check));
    m.fit["check"] = c.to_json();
    std::printf("against %s (measured): %d predicted ConvBlocks, median error %.1f%%, max %.1f%%; %d whole networks, "
                "median error %.1f%%, max %.1f%%\n",
                a.check.c_str(), c.keys, c.median_pct, c.max_pct, c.networks, c.network_median_pct, c.network_max_pct);
  }
  if (!a.description.empty()) m.description = a.description;
  m.date = nasc::utc_timestamp();
  m.tool_version = nasc::nasc_tool_version();
  pred.profile.save(a.out);

  std::printf("block latency model of %s, leave-one-placement-out error on its %d ConvBlocks (%d folds):\n",
              a.source.c_str(), pred.validation.front().rows, pred.validation.front().folds);
  for (const auto& v : pred.validation)
    std::printf("  %-6s median %5.1f%%  p90 %5.1f%%  max %6.1f%%%s\n", nasc::form_name(v.form), v.median_pct,
                v.p90_pct, v.max_pct, &v == &pred.validation.front() ? "  <- used" : "");
  std::printf("space %s: %d keys copied, %d predicted (%zu outside the source's feature range), %d scaled by %.4f "
              "(stem, head, 1x1 skips against %s)\n",
              space.name().c_str(), pred.copied, pred.predicted, pred.extrapolated.size(), pred.scaled,
              pred.fixed_ratio, a.target_reference.c_str());
  std::printf("wrote %s (%zu keys)\n", a.out.c_str(), pred.profile.entries().size());
  return 0;
}

nasc::cli::Action setup_predict(CLI::App& app) {
  auto a = std::make_shared<PredictArgs>();
  app.add_option("--from", a->source,
                 "Profile of the hardware to price, for another space (e.g. profiles/raspi4-hwnas-cifar.json)")
      ->required();
  app.add_option("--space", a->space, "Preset or space JSON file to write a profile for")->required();
  app.add_option("--source-reference", a->source_reference,
                 "Profile of the --from profile's space measured on some machine (nasc profile)")
      ->required();
  app.add_option("--target-reference", a->target_reference,
                 "Profile of --space measured on the same machine: stem, head and 1x1 skips are priced as its "
                 "latencies times the --from profile's ratio to --source-reference over such blocks")
      ->required();
  app.add_option("--out", a->out, "Profile file to write (JSON)")->required();
  app.add_option("--check", a->check,
                 "Measured profile of --space on the same hardware as --from: report (and record) the model's error "
                 "on the blocks it predicted");
  app.add_option("--description", a->description, "What the machine is (default: the --from profile's)");
  return [a] { return run_predict(*a); };
}

}  // namespace

NASC_COMMAND(predict_profile, "predict-profile",
             "Price a space's blocks on hardware profiled for another space, by a block latency model of MACs and "
             "activations (validated leave-one-shape-out)",
             setup_predict);
