// nasc profile: measures every block key of a space on this machine and writes a hardware profile.
#include <iostream>

#include "command.h"
#include "common/error.h"
#include "latency/profiler.h"

namespace {

struct ProfileArgs {
  std::string space = "fmnist";
  std::string out;
  nasc::ProfilerOptions opt;
};

int run_profile(const ProfileArgs& a) {
  nasc::Space space(nasc::SpaceConfig::load(a.space));
  std::cerr << "profiling " << nasc::space_keys(space).size() << " keys of space " << space.name() << " on "
            << a.opt.device << "\n";
  nasc::HardwareProfile prof = nasc::profile_space(space, a.opt, &std::cerr);
  prof.save(a.out);
  std::cerr << "wrote " << a.out << " (" << prof.entries().size() << " keys, " << prof.meta().description << ")\n";
  return 0;
}

nasc::cli::Action setup_profile(CLI::App& app) {
  auto a = std::make_shared<ProfileArgs>();
  a->opt.device = "cpu";
  app.add_option("--space", a->space, "Preset (hwnas-cifar, hwnas-cifar10, hwnas-imagenet, nbmacro, fmnist, tiny) or a space JSON file")
      ->capture_default_str();
  nasc::cli::add_device_option(app, a->opt.device);
  nasc::cli::add_threads_option(app, a->opt.threads);
  app.add_option("--out", a->out, "Profile file to write (JSON)")->required();
  app.add_option("--reps", a->opt.min_reps, "Timed runs per key, at least")
      ->check(CLI::Range(3, 1000000))
      ->capture_default_str();
  app.add_option("--max-reps", a->opt.max_reps, "Timed runs per key, at most")
      ->check(CLI::Range(3, 10000000))
      ->capture_default_str();
  app.add_option("--target-ci", a->opt.target_rel_ci,
                 "Stop timing a key once the 95% CI of its median is within this fraction of it")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-seconds", a->opt.max_seconds_per_key, "Time cap per key, seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--device-class", a->opt.device_class, "Role of this machine in the profile: device or server")
      ->check(CLI::IsMember({"device", "server"}))
      ->capture_default_str();
  app.add_option("--description", a->opt.description, "What the machine is (default: processor and threads)");
  app.add_option("--notes", a->opt.notes, "Free text stored in the profile's metadata");
  return [a] {
    if (a->opt.max_reps < a->opt.min_reps) nasc::fail("--max-reps ", a->opt.max_reps, " is below --reps ", a->opt.min_reps);
    return run_profile(*a);
  };
}

}  // namespace

NASC_COMMAND(profile, "profile", "Measure a hardware profile: every block key of a space, batch 1, on this machine",
             setup_profile);
