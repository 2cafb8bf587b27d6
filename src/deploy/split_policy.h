// Adaptive split computing on the device: learns the uplink online from its own transfers and picks, per request,
// the admissible split with the lowest predicted device + link + server time, with hysteresis so that it does not flap.
#pragma once
#include <cstdint>
#include <vector>

#include "common/json_io.h"
#include "latency/estimator.h"

namespace nasc {

struct LinkEstimateOptions {
  double initial_mbps = 10;  // prior before any observation, e.g. the link the export was searched for
  double delay_ms = 0;       // known one-way delay floor: a transfer takes delay + 8 * bytes / bandwidth
  double alpha = 0.3;        // EWMA weight of a new sample, in (0, 1]
};

// Online estimate of the uplink bandwidth from completed transfers (the delay is known, not learnt).
class LinkEstimate {
 public:
  explicit LinkEstimate(LinkEstimateOptions opts);  // throws Error naming the field of a bad option

  // A transfer of `bytes` that took `transfer_ms`, first byte sent to delivered, delay included. Samples that
  // carry no information (bytes <= 0, a time not finite or negative) are ignored; returns whether it was used.
  bool observe(int64_t bytes, double transfer_ms);

  double mbps() const;
  double predict_ms(int64_t bytes) const;  // 0 for 0 bytes, else delay + 8 * bytes / bandwidth
  int64_t samples() const { return samples_; }
  const LinkEstimateOptions& options() const { return opts_; }

 private:
  LinkEstimateOptions opts_;
  double ms_per_byte_;  // the smoothed quantity: see observe()
  int64_t samples_ = 0;
};

// What one admissible split costs, from the hardware tables. The device-only split (p = B) sends nothing.
struct SplitCost {
  int split = 0;              // blocks [0, split) run on the device
  double device_ms = 0;       // head compute
  double server_ms = 0;       // tail compute
  int64_t payload_bytes = 0;  // sent up at the split; 0 only for the device-only split
  int64_t result_bytes = 0;   // sent back; may be 0
};

struct SplitPolicyOptions {
  LinkEstimateOptions link;
  double downlink_mbps = 0;  // constant, for result bytes (with the link's delay); 0 = the downlink costs nothing
  // Leave the current split only for one predicted below (1 - hysteresis) x its total: estimates are noisy, and
  // two splits of nearly equal cost would otherwise swap on every sample.
  double hysteresis = 0.1;
  int min_dwell = 3;  // requests to stay on a split after a switch before another switch is allowed
  // After this many consecutive requests that sent no payload (which teach the estimate nothing), send one on the
  // cheapest split that has a payload, so that the estimate sees a link that became fast again; a probe that
  // measured better than staying is repeated on the next request until the estimate agrees. 0 = never.
  int probe_every = 0;
};

// The cost of each of `splits` for `arch` by the estimator's tables.
std::vector<SplitCost> split_costs(const LatencyEstimator& est, const Arch& arch, const std::vector<int>& splits);

// Predicted total of `c` on a link of `uplink_mbps` (and `downlink_mbps`, 0 = free) with one-way `delay_ms`.
double split_total_ms(const SplitCost& c, double uplink_mbps, double delay_ms, double downlink_mbps);
// The split with the lowest split_total_ms at a known bandwidth (the first listed on a tie): the oracle.
int oracle_split(const std::vector<SplitCost>& costs, double uplink_mbps, double delay_ms, double downlink_mbps);

class SplitPolicy {
 public:
  // Throws Error naming the field: no splits, a repeated split, a cost not finite and >= 0, a payload of 0 on
  // any split but a device-only last one (which must then have no server time and no result), or a bad option.
  SplitPolicy(std::vector<SplitCost> costs, SplitPolicyOptions opts);

  int choose();  // the split for the next request; the first is the best by the prior
  // After a request on `split`: its payload `bytes` took `transfer_ms` on the uplink. Bytes 0 (device-only) teach
  // nothing but count towards probe_every. Throws Error for a split that is not one of the costs.
  void observe(int split, int64_t bytes, double transfer_ms);

  double predicted_total_ms(int split) const;  // by the current estimate; throws Error for an unknown split
  int current() const { return current_ < 0 ? -1 : costs_[size_t(current_)].split; }  // -1 before choose()
  int64_t requests() const { return requests_; }
  int64_t switches() const { return switches_; }
  int64_t probes() const { return probes_; }
  const LinkEstimate& link() const { return link_; }
  // {requests, switches, probes, mbps, samples, current, splits: [{split, requests, share, predicted_total_ms}]}
  json report() const;

 private:
  size_t index_of(int split) const;
  double total_at(size_t i) const;

  std::vector<SplitCost> costs_;
  SplitPolicyOptions opts_;
  LinkEstimate link_;
  std::vector<int64_t> served_;  // requests per split, probes included
  int current_ = -1;             // index into costs_
  int64_t requests_ = 0, switches_ = 0, probes_ = 0;
  int64_t on_current_ = 0;  // requests served on the current split since it was chosen
  int64_t idle_ = 0;        // consecutive observed requests that taught the estimate nothing
  bool probing_ = false;    // the last choose() was a probe
};

}  // namespace nasc
