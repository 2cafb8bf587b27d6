// A hardware profile fitted from whole-network timings, for hardware that can only be timed as whole networks
// (published benchmarks, a phone, an accelerator): per-key latencies of a space by least squares.
//
// Model: T(a) = c + sum_l x[key(l, a_l)], one unknown per distinct layer key plus the constant c. An identity
// `skip` costs 0, which fixes the level of its layer. A layer whose `skip` is a 1x1 convolution (channels or
// stride change) is fitted relative to that skip, whose cost joins c, as do the stem and the head. Timings of
// whole networks cannot divide c among those fixed blocks, so it is apportioned in proportion to a reference
// profile's latencies of the same keys (one measured by `nasc profile`, say). Every whole-network sum of the
// written profile then equals the fit's prediction.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "latency/profile.h"
#include "space/space.h"

namespace nasc {

struct TimedArch {
  Arch arch;
  double ms = 0;
  int line = 0;  // where it came from, for messages
};

// Reads (architecture, latency) rows of a CSV: `arch_column` holds one op name per layer, comma-separated, first
// layer first; `ms_column` a latency in milliseconds > 0. Errors name the file, the line and what was wrong.
std::vector<TimedArch> read_timings_csv(const std::string& path, const Space& space, const std::string& arch_column,
                                        const std::string& ms_column);

struct FitQuality {
  size_t rows = 0;
  double r2 = 0, mape_pct = 0, spearman = 0, max_abs_err_ms = 0;
  json to_json() const;
};

struct ProfileFitOptions {
  double holdout = 0.2;  // fraction of rows left out of the fit and used to measure it
  uint64_t seed = 1;     // which rows are left out
  // Class counts of other spaces of the same geometry: their FC keys are priced as the fitted FC key.
  std::vector<int> extra_head_classes;
};

struct ProfileFit {
  HardwareProfile profile;  // every key of the space; metadata.fit holds the rule and the quality
  double constant_ms = 0;   // c: stem + head + the convolutional skips, as apportioned
  int terms = 0;            // unknowns of the least-squares problem, c included
  FitQuality train, test;   // test.rows = 0 when nothing was held out
};

// Throws when the rows cannot identify every term (naming a key that never occurs, or the rank), when the
// reference lacks a key to apportion by, or when a fitted latency comes out negative (naming the key).
ProfileFit fit_profile(const Space& space, const std::vector<TimedArch>& rows, const HardwareProfile& reference,
                       const ProfileFitOptions& opt);

}  // namespace nasc
