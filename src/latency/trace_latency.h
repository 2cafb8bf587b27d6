// End-to-end latency over a link trace: every request of a grid of start times over one loop of the trace pays
// the device, what the trace delivers from the moment its payload is ready, and the server; per split, and for
// the oracle that picks the best split of each request.
#pragma once
#include <vector>

#include "latency/estimator.h"
#include "latency/link_trace.h"

namespace nasc {

// p50, p95, mean and the share of requests within T (NaN when no T is given) of a set of latencies, in ms.
struct LatencySummary {
  double p50 = 0, p95 = 0, mean = 0, share_within = 0;
  static LatencySummary of(std::vector<double> ms, double max_latency_ms);
  json to_json() const;
};

struct TraceRequests {
  double step_ms = 10;             // one request every step_ms over one period of the uplink trace
  const LinkTrace* downlink = nullptr;  // else the estimator's constant downlink (when the result returns)
};

// Total ms of each request at split p; the estimator's link adds its one-way delay to every transfer.
std::vector<double> latencies_over_trace(const LatencyEstimator& est, const Arch& arch, int p, const LinkTrace& uplink,
                                         const TraceRequests& requests = {});
// Per request, the lowest total over the splits p >= min_device_blocks: what knowing the link ahead would give.
std::vector<double> oracle_over_trace(const LatencyEstimator& est, const Arch& arch, int min_device_blocks,
                                      const LinkTrace& uplink, const TraceRequests& requests = {});

// Per split p = 0..B, the q-quantile over a grid of start times (one every requests.step_ms over one loop of the
// trace) of the time to send p's payload, the estimator's one-way delay included (0 where nothing is sent): what a
// static split's uplink costs at that quantile. A request's payload leaves device_ms after it starts, so its own
// send times are this grid shifted; the trace loops, so on a grid fine against the trace's changes the shift only
// permutes the samples (exactly when device_ms is a multiple of the step) and the quantiles agree, while a coarse
// grid can tell them apart: latencies_over_trace measures a candidate's own.
std::vector<double> uplink_quantile_ms(const LatencyEstimator& est, const LinkTrace& uplink, double q,
                                       const TraceRequests& requests = {});
// est with uplink_quantile_ms as its uplink: every search, baseline and free answer over it meets a threshold at
// the q-quantile of a static split on that trace. Throws for q outside [0, 1].
LatencyEstimator quantile_estimator(const LatencyEstimator& est, const LinkTrace& uplink, double q,
                                    const TraceRequests& requests = {});

}  // namespace nasc
