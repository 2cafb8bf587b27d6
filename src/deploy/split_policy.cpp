#include "deploy/split_policy.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "common/error.h"

namespace nasc {
namespace {

// A transfer that took no longer than the delay floor (clock jitter) still moved its bytes in some time; this floor
// keeps the sample finite, and in the time-per-byte domain it only pulls the estimate towards 0 ms per byte.
constexpr double kMinWireMs = 1e-3;

double ms_per_byte(double mbps) { return 8.0 / (mbps * 1e3); }  // 8 bit / (mbps * 1e6 bit/s), in ms

double link_ms(int64_t bytes, double ms_per_byte, double delay_ms) {
  return bytes <= 0 ? 0 : delay_ms + double(bytes) * ms_per_byte;
}

// Result bytes come back with the same one-way delay; a downlink of 0 Mbit/s stands for one that costs nothing.
double downlink_ms(const SplitCost& c, double downlink_mbps, double delay_ms) {
  return downlink_mbps > 0 ? link_ms(c.result_bytes, ms_per_byte(downlink_mbps), delay_ms) : 0;
}

bool finite_nonneg(double v) { return std::isfinite(v) && v >= 0; }

}  // namespace

LinkEstimate::LinkEstimate(LinkEstimateOptions opts) : opts_(opts) {
  if (!std::isfinite(opts_.initial_mbps) || opts_.initial_mbps <= 0)
    fail("link estimate initial_mbps = ", opts_.initial_mbps, ": expected a finite bandwidth > 0 Mbit/s");
  if (!finite_nonneg(opts_.delay_ms))
    fail("link estimate delay_ms = ", opts_.delay_ms, ": expected a finite delay >= 0 ms");
  if (!(opts_.alpha > 0 && opts_.alpha <= 1)) fail("link estimate alpha = ", opts_.alpha, ": expected 0 < alpha <= 1");
  ms_per_byte_ = ms_per_byte(opts_.initial_mbps);
}

bool LinkEstimate::observe(int64_t bytes, double transfer_ms) {
  if (bytes <= 0 || !finite_nonneg(transfer_ms)) return false;
  const double sample = std::max(transfer_ms - opts_.delay_ms, kMinWireMs) / double(bytes);
  // Smoothed as time per byte, not as throughput: predicted times are linear in it, so its mean is the mean time,
  // and a sample is bounded below by 0, whereas one transfer ending just past the delay floor has near-infinite
  // throughput and would dominate an average of throughputs for many samples.
  ms_per_byte_ = (1 - opts_.alpha) * ms_per_byte_ + opts_.alpha * sample;
  ++samples_;
  return true;
}

double LinkEstimate::mbps() const { return 8.0 / (ms_per_byte_ * 1e3); }

double LinkEstimate::predict_ms(int64_t bytes) const { return link_ms(bytes, ms_per_byte_, opts_.delay_ms); }

std::vector<SplitCost> split_costs(const LatencyEstimator& est, const Arch& arch, const std::vector<int>& splits) {
  std::vector<SplitCost> costs;
  for (int p : splits) {
    const LatencyBreakdown b = est.breakdown(arch, p);
    costs.push_back({p, b.device_ms, b.server_ms, b.payload_bytes, b.result_bytes});
  }
  return costs;
}

double split_total_ms(const SplitCost& c, double uplink_mbps, double delay_ms, double downlink_mbps) {
  return c.device_ms + link_ms(c.payload_bytes, ms_per_byte(uplink_mbps), delay_ms) + c.server_ms +
         downlink_ms(c, downlink_mbps, delay_ms);
}

int oracle_split(const std::vector<SplitCost>& costs, double uplink_mbps, double delay_ms, double downlink_mbps) {
  if (costs.empty()) fail("oracle split: no splits given");
  int best = costs[0].split;
  double best_ms = split_total_ms(costs[0], uplink_mbps, delay_ms, downlink_mbps);
  for (const SplitCost& c : costs) {
    const double ms = split_total_ms(c, uplink_mbps, delay_ms, downlink_mbps);
    if (ms < best_ms) {
      best = c.split;
      best_ms = ms;
    }
  }
  return best;
}

SplitPolicy::SplitPolicy(std::vector<SplitCost> costs, SplitPolicyOptions opts)
    : costs_(std::move(costs)), opts_(opts), link_(opts.link), served_(costs_.size(), 0) {
  if (costs_.empty()) fail("split policy costs: expected at least one admissible split");
  if (!finite_nonneg(opts_.downlink_mbps))
    fail("split policy downlink_mbps = ", opts_.downlink_mbps, ": expected a finite bandwidth >= 0 (0 = free)");
  if (!(opts_.hysteresis >= 0 && opts_.hysteresis < 1))
    fail("split policy hysteresis = ", opts_.hysteresis, ": expected 0 <= hysteresis < 1");
  if (opts_.min_dwell < 0) fail("split policy min_dwell = ", opts_.min_dwell, ": expected >= 0 requests");
  if (opts_.probe_every < 0) fail("split policy probe_every = ", opts_.probe_every, ": expected >= 0 (0 = never)");
  std::set<int> seen;
  int last = costs_[0].split;
  for (const SplitCost& c : costs_) last = std::max(last, c.split);
  for (const SplitCost& c : costs_) {
    const std::string what = cat("split policy split ", c.split, " ");
    if (c.split < 0) fail(what, "index: expected >= 0");
    if (!seen.insert(c.split).second) fail(what, "is listed twice: expected unique splits");
    if (!finite_nonneg(c.device_ms)) fail(what, "device_ms = ", c.device_ms, ": expected finite >= 0");
    if (!finite_nonneg(c.server_ms)) fail(what, "server_ms = ", c.server_ms, ": expected finite >= 0");
    if (c.payload_bytes < 0) fail(what, "payload_bytes = ", c.payload_bytes, ": expected >= 0");
    if (c.result_bytes < 0) fail(what, "result_bytes = ", c.result_bytes, ": expected >= 0");
    if (c.payload_bytes == 0 && c.split != last)
      fail(what, "payload_bytes = 0: expected > 0, only the device-only split (the last, ", last, ") sends nothing");
    if (c.payload_bytes == 0 && (c.server_ms != 0 || c.result_bytes != 0))
      fail(what, "is device-only (payload_bytes = 0): expected server_ms = 0 and result_bytes = 0");
  }
}

size_t SplitPolicy::index_of(int split) const {
  for (size_t i = 0; i < costs_.size(); ++i)
    if (costs_[i].split == split) return i;
  fail("split policy: split ", split, " is not one of the admissible splits");
}

double SplitPolicy::total_at(size_t i) const {
  return split_total_ms(costs_[i], link_.mbps(), link_.options().delay_ms, opts_.downlink_mbps);
}

double SplitPolicy::predicted_total_ms(int split) const { return total_at(index_of(split)); }

int SplitPolicy::choose() {
  ++requests_;
  // The cheapest split by the estimate, `sending` restricted to those that send a payload; -1 when none.
  auto best = [&](bool sending, int other_than) {
    int b = -1;
    for (size_t i = 0; i < costs_.size(); ++i) {
      if (int(i) == other_than || (sending && costs_[i].payload_bytes == 0)) continue;
      if (b < 0 || total_at(i) < total_at(size_t(b))) b = int(i);
    }
    return b;
  };
  if (current_ < 0) {
    current_ = best(false, -1);
    on_current_ = opts_.min_dwell;  // a pick by the prior alone: the first transfer may overrule it at once
  } else if (on_current_ >= opts_.min_dwell) {
    const int alt = best(false, current_);
    if (alt >= 0 && total_at(size_t(alt)) < (1 - opts_.hysteresis) * total_at(size_t(current_))) {
      current_ = alt;
      on_current_ = 0;
      ++switches_;
    }
  }
  ++on_current_;
  size_t chosen = size_t(current_);
  probing_ = false;
  if (costs_[chosen].payload_bytes == 0 && opts_.probe_every > 0 && idle_ >= opts_.probe_every) {
    const int probe = best(true, -1);
    if (probe >= 0) {  // a one-off: the current split and its dwell stay, and the next choose() weighs the sample
      chosen = size_t(probe);
      probing_ = true;
      idle_ = 0;
      ++probes_;
    }
  }
  ++served_[chosen];
  return costs_[chosen].split;
}

void SplitPolicy::observe(int split, int64_t bytes, double transfer_ms) {
  const SplitCost& c = costs_[index_of(split)];
  const bool used = link_.observe(bytes, transfer_ms);
  idle_ = used ? 0 : idle_ + 1;
  // One fast sample moves the time per byte by only alpha of the way, so after a slow spell a link that became fast
  // again would take several probe_every periods to be believed. A probe that, as measured, beat the current split
  // by the hysteresis margin is followed by another at once until the estimate agrees; it cost less than staying.
  if (probing_ && used && current_ >= 0) {
    const double measured =
        c.device_ms + transfer_ms + c.server_ms + downlink_ms(c, opts_.downlink_mbps, link_.options().delay_ms);
    if (measured < (1 - opts_.hysteresis) * total_at(size_t(current_))) idle_ = opts_.probe_every;
  }
  probing_ = false;
}

json SplitPolicy::report() const {
  json splits = json::array();
  for (size_t i = 0; i < costs_.size(); ++i)
    splits.push_back({{"split", costs_[i].split},
                      {"requests", served_[i]},
                      {"share", requests_ > 0 ? double(served_[i]) / double(requests_) : 0.0},
                      {"predicted_total_ms", total_at(i)}});
  return {{"requests", requests_},      {"switches", switches_}, {"probes", probes_}, {"mbps", link_.mbps()},
          {"samples", link_.samples()}, {"current", current()},  {"splits", splits}};
}

}  // namespace nasc
