// The profiler (ARCHITECTURE.md §3): builds every distinct block a space needs and times it at batch size 1 on this
// machine (CPU threads or a CUDA device), writing the medians and spreads as a hardware profile.
#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "latency/profile.h"
#include "space/space.h"

namespace nasc {

struct ProfilerOptions {
  std::string device = "cpu";  // cpu, cuda, or auto (cuda when available)
  int threads = 1;             // LibTorch intra-op threads; 0 = all cores
  int min_reps = 30;           // timed runs per key, at least
  int max_reps = 5000;
  double target_rel_ci = 0.02;       // stop once the median's 95% CI half-width is within 2% of the median
  double max_seconds_per_key = 1.5;  // ... or once this much time went into timing one key
  double warmup_seconds = 0.05;      // untimed runs first (at least 3), for caches, allocator and lazy init
  std::string device_class = "device";
  std::string description;  // default: "<processor>, <threads> thread(s)"
  std::string notes;
};

// Order statistics of a set of timings (ms): median, quartiles, and a distribution-free 95% confidence
// interval of the median (the order statistics at ranks n/2 -+ 1.96 sqrt(n)/2).
struct TimingStats {
  int n = 0;
  double median = 0, q1 = 0, q3 = 0;
  double ci_low = 0, ci_high = 0;
  double iqr() const { return q3 - q1; }
  double rel_ci_half_width() const { return median > 0 ? (ci_high - ci_low) / (2 * median) : 0; }
};
TimingStats timing_stats(std::vector<double> samples_ms);

// Times every key of space_keys(space). Progress (key i/N, median, ETA) goes to `progress` when not null.
HardwareProfile profile_space(const Space& space, const ProfilerOptions& options, std::ostream* progress);

// CPU model (from /proc/cpuinfo) or GPU name (from nvidia-smi); "unknown" when neither can be read.
std::string processor_name(bool cuda);

}  // namespace nasc
