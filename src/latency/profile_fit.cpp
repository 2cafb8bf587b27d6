#include "latency/profile_fit.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "common/csv.h"
#include "common/error.h"
#include "common/stats.h"
#include "latency/estimator.h"

namespace nasc {

namespace {

// Which unknown each (layer, op) adds to, and what makes up the constant.
struct Design {
  std::vector<std::string> column_keys;       // column j >= 1 prices column_keys[j - 1]; column 0 is c
  std::vector<std::string> column_base;       // key whose apportioned share is added to column j's value, or ""
  std::vector<std::vector<int>> layer_column;  // [l][op] -> column, -1 for an identity skip (costs 0)
  std::map<std::string, int> absorbed;        // fixed key -> times it occurs in every network
  std::vector<std::string> identity_keys;
  int terms() const { return int(column_keys.size()) + 1; }
};

Design make_design(const Space& space) {
  const int skip = space.op_index("skip");
  if (skip < 0)
    fail("fitting a profile needs the op 'skip' among the ops of space ", space.name(),
         " (its cost fixes each layer's level)");
  Design d;
  std::map<std::string, int> column_of;
  for (const auto& k : space.block_keys(0, 0)) ++d.absorbed[k];
  for (const auto& k : space.block_keys(space.num_blocks() - 1, 0)) ++d.absorbed[k];
  d.layer_column.assign(space.num_layers(), std::vector<int>(space.num_ops(), -1));
  for (int l = 0; l < space.num_layers(); ++l) {
    const std::string skip_key = space.layer_key(l, skip);
    const bool identity = space.skip_is_identity(l);
    if (identity)
      d.identity_keys.push_back(skip_key);
    else
      ++d.absorbed[skip_key];
    for (int o = 0; o < space.num_ops(); ++o) {
      if (o == skip) continue;
      const std::string key = space.layer_key(l, o);
      auto [it, added] = column_of.emplace(key, d.terms());
      if (added) {
        d.column_keys.push_back(key);
        d.column_base.push_back(identity ? "" : skip_key);
      }
      d.layer_column[l][o] = it->second;
    }
  }
  return d;
}

FitQuality quality(const Space& space, const HardwareProfile& prof, const std::vector<const TimedArch*>& rows) {
  FitQuality q;
  q.rows = rows.size();
  if (rows.empty()) return q;
  // The whole network on one machine: the estimator's device-only split, which needs no link.
  const LatencyEstimator est(space, prof, prof, LinkModel{}, Encoding::Int8);
  std::vector<double> predicted, measured;
  for (const TimedArch* r : rows) {
    predicted.push_back(est.breakdown(r->arch, space.num_blocks()).device_ms);
    measured.push_back(r->ms);
    q.max_abs_err_ms = std::max(q.max_abs_err_ms, std::abs(predicted.back() - measured.back()));
  }
  q.r2 = r_squared(predicted, measured);
  q.mape_pct = mape_percent(predicted, measured);
  q.spearman = spearman(predicted, measured);
  return q;
}

double parse_ms(const std::string& text, const std::string& where) {
  if (text.empty()) fail(where, ": latency is missing (expected milliseconds > 0)");
  const std::optional<double> v = parse_number(text);
  if (!v) fail(where, ": latency '", text, "' is not a number (expected milliseconds > 0)");
  if (*v <= 0) fail(where, ": latency ", text, " is not a finite value > 0 (milliseconds)");
  return *v;
}

}  // namespace

json FitQuality::to_json() const {
  return {{"rows", rows}, {"r2", r2}, {"mape_pct", mape_pct}, {"spearman", spearman}, {"max_abs_err_ms", max_abs_err_ms}};
}

std::vector<TimedArch> read_timings_csv(const std::string& path, const Space& space, const std::string& arch_column,
                                        const std::string& ms_column) {
  const CsvTable t = read_csv_file(path);
  const int ac = t.column(arch_column), mc = t.column(ms_column);
  std::vector<TimedArch> rows;
  rows.reserve(t.rows.size());
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const std::string where = cat(path, ":", t.lines[i]);
    TimedArch r;
    r.line = t.lines[i];
    try {
      r.arch = space.parse_arch(t.rows[i][ac]);
    } catch (const Error& e) {
      fail(where, ": column '", arch_column, "': ", e.what());
    }
    r.ms = parse_ms(t.rows[i][mc], cat(where, ": column '", ms_column, "'"));
    rows.push_back(std::move(r));
  }
  if (rows.empty()) fail(path, ": no rows after the header (expected one architecture and its latency per row)");
  return rows;
}

namespace {

struct HeldOut {
  std::vector<const TimedArch*> train, test;
};

HeldOut hold_out(const Space& space, const std::vector<TimedArch>& rows, const ProfileFitOptions& opt, int terms) {
  std::vector<const TimedArch*> shuffled;
  for (const auto& r : rows) {
    space.check_arch(r.arch);
    shuffled.push_back(&r);
  }
  std::mt19937_64 rng(opt.seed);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  const size_t n_test = size_t(std::llround(opt.holdout * double(rows.size())));
  HeldOut h{{shuffled.begin() + n_test, shuffled.end()}, {shuffled.begin(), shuffled.begin() + n_test}};
  if (int(h.train.size()) < terms)
    fail("too few rows to fit space ", space.name(), ": ", h.train.size(), " rows in the fit (", n_test,
         " held out) for ", terms, " terms; expected at least ", terms);
  return h;
}

// Least squares of T(arch) = c + sum of x[layer key]: returns {c, x per design column}, or names why the rows
// cannot identify every term.
std::vector<double> solve_terms(const Space& space, const Design& d, const std::vector<const TimedArch*>& train) {
  const int terms = d.terms();
  auto A = torch::zeros({int64_t(train.size()), terms}, torch::kFloat64);
  auto b = torch::empty({int64_t(train.size()), 1}, torch::kFloat64);
  auto Aa = A.accessor<double, 2>();
  auto ba = b.accessor<double, 2>();
  std::vector<int> occurrences(terms, 0);
  for (size_t i = 0; i < train.size(); ++i) {
    Aa[i][0] = 1;
    for (int l = 0; l < space.num_layers(); ++l) {
      const int c = d.layer_column[l][train[i]->arch[l]];
      if (c < 0) continue;
      Aa[i][c] += 1;
      ++occurrences[c];
    }
    ba[i][0] = train[i]->ms;
  }
  for (int c = 1; c < terms; ++c)
    if (occurrences[c] == 0)
      fail("too few rows to fit space ", space.name(), ": key ", d.column_keys[c - 1], " occurs in none of the ",
           train.size(), " rows in the fit (expected every op of every layer in some row)");
  auto [x, residuals, rank, singular] = at::linalg_lstsq(A, b, c10::nullopt, "gelsd");
  if (rank.item<int64_t>() < terms)
    fail("the ", train.size(), " rows in the fit identify ", rank.item<int64_t>(), " of ", terms,
         " terms of space ", space.name(), " (some ops always occur together): expected more varied architectures");
  auto xa = x.accessor<double, 2>();
  std::vector<double> out(terms);
  for (int c = 0; c < terms; ++c) out[c] = xa[c][0];
  return out;
}

// The profile from the solved terms: the constant apportioned over the fixed keys in proportion to the
// reference profile, every layer key priced, extra FC heads copied.
void price_keys(const Space& space, const Design& d, const std::vector<double>& x, double tolerance,
                const HardwareProfile& reference, const ProfileFitOptions& opt, ProfileFit& fit) {
  // Values within rounding of the timings (printed to a few digits) count as 0 rather than as a misfit.
  auto rounded = [tolerance](double ms) { return ms < 0 && ms > -tolerance ? 0.0 : ms; };
  const double constant = rounded(x[0]);
  double weight = 0;
  for (const auto& [key, times] : d.absorbed) weight += times * reference.ms(key);
  if (!(weight > 0))
    fail("reference profile ", reference.source(),
         " prices the stem, head and convolutional skips at 0 ms: cannot apportion by it");
  if (!(constant >= 0))
    fail("the fitted constant (stem, head and convolutional skips) is ", constant,
         " ms: expected >= 0; the timings do not fit an additive per-block model");
  std::map<std::string, double> share;
  for (const auto& [key, times] : d.absorbed) share[key] = constant * reference.ms(key) / weight;

  fit.terms = d.terms();
  fit.constant_ms = constant;
  HardwareProfile& prof = fit.profile;
  prof.meta().batch_size = 1;
  for (const auto& key : d.identity_keys) prof.set(key, 0.0);
  for (const auto& [key, ms] : share) prof.set(key, ms);
  for (int c = 1; c < d.terms(); ++c) {
    const std::string& base = d.column_base[c - 1];
    const double ms = rounded(x[c] + (base.empty() ? 0.0 : share.at(base)));
    if (ms < 0)
      fail("fitted latency of ", d.column_keys[c - 1], " is ", ms,
           " ms: expected >= 0; the timings do not fit an additive per-block model at that layer");
    prof.set(d.column_keys[c - 1], ms);
  }
  const std::string fc_key = space.block_keys(space.num_blocks() - 1, 0).back();
  for (int classes : opt.extra_head_classes) {
    SpaceConfig other = space.config();
    other.num_classes = classes;
    const Space o(other);
    prof.set(o.block_keys(o.num_blocks() - 1, 0).back(), prof.ms(fc_key));
  }
  for (const auto& key : space_keys(space))
    if (!prof.contains(key)) fail("internal: fitted profile lacks key ", key);
}

json fit_metadata(const Space& space, const Design& d, const HardwareProfile& reference,
                  const ProfileFitOptions& opt, const ProfileFit& fit) {
  std::string absorbed;
  for (const auto& [key, times] : d.absorbed) absorbed += (absorbed.empty() ? "" : ", ") + key;
  json meta = {
      {"model", "T(arch) = c + sum over layers of x[key of (layer, op)]: least squares over whole-network timings, "
                "one term per distinct layer key plus the constant c"},
      {"rule", cat("an identity skip costs 0; a layer whose skip is a 1x1 convolution is fitted relative to it; the "
                   "constant c = ", fit.constant_ms, " ms (stem, head and those skips) is apportioned among them in "
                   "proportion to their latencies in the reference profile, so whole-network sums equal the fit")},
      {"reference_profile", reference.source()},
      {"apportioned_keys", absorbed},
      {"constant_ms", fit.constant_ms},
      {"terms", fit.terms},
      {"holdout", opt.holdout},
      {"seed", opt.seed},
      {"train", fit.train.to_json()},
      {"test", fit.test.rows ? fit.test.to_json() : json(nullptr)}};
  if (!opt.extra_head_classes.empty())
    meta["extra_head_classes"] = {
        {"classes", opt.extra_head_classes},
        {"rule", cat("the FC layer for these class counts is priced as the fitted ",
                     space.block_keys(space.num_blocks() - 1, 0).back(), ": the timings price no other class count")}};
  return meta;
}

}  // namespace

ProfileFit fit_profile(const Space& space, const std::vector<TimedArch>& rows, const HardwareProfile& reference,
                       const ProfileFitOptions& opt) {
  if (!(opt.holdout >= 0 && opt.holdout < 1)) fail("holdout fraction ", opt.holdout, " is not in [0, 1)");
  const Design d = make_design(space);
  const HeldOut sets = hold_out(space, rows, opt, d.terms());
  const std::vector<double> x = solve_terms(space, d, sets.train);
  double mean_ms = 0;
  for (const TimedArch* r : sets.train) mean_ms += r->ms / double(sets.train.size());

  ProfileFit fit;
  price_keys(space, d, x, 1e-5 * mean_ms, reference, opt, fit);
  fit.train = quality(space, fit.profile, sets.train);
  fit.test = quality(space, fit.profile, sets.test);
  fit.profile.meta().fit = fit_metadata(space, d, reference, opt, fit);
  return fit;
}

}  // namespace nasc
