#include "latency/trace_latency.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/error.h"
#include "common/stats.h"

namespace nasc {

LatencySummary LatencySummary::of(std::vector<double> ms, double max_latency_ms) {
  LatencySummary s;
  std::sort(ms.begin(), ms.end());
  s.p50 = quantile_sorted(ms, 0.5);
  s.p95 = quantile_sorted(ms, 0.95);
  s.mean = ms.empty() ? 0.0 : std::accumulate(ms.begin(), ms.end(), 0.0) / double(ms.size());
  s.share_within = std::numeric_limits<double>::quiet_NaN();
  if (!std::isnan(max_latency_ms) && !ms.empty())
    s.share_within = double(std::upper_bound(ms.begin(), ms.end(), max_latency_ms) - ms.begin()) / double(ms.size());
  return s;
}

json LatencySummary::to_json() const {
  return {{"p50_ms", p50}, {"p95_ms", p95}, {"mean_ms", mean},
          {"share_within", std::isnan(share_within) ? json(nullptr) : json(share_within)}};
}

std::vector<double> latencies_over_trace(const LatencyEstimator& est, const Arch& arch, int p, const LinkTrace& uplink,
                                         const TraceRequests& rq) {
  if (!(rq.step_ms > 0) || !std::isfinite(rq.step_ms))
    fail("trace request step ", rq.step_ms, " ms: expected a finite value > 0");
  const LatencyBreakdown b = est.breakdown(arch, p);
  const double delay = est.link().delay_ms;
  std::vector<double> out;
  out.reserve(size_t(uplink.period_ms() / rq.step_ms) + 1);
  for (double t = 0; t < uplink.period_ms(); t += rq.step_ms) {
    double at = t + b.device_ms;
    if (b.payload_bytes > 0) at += delay + uplink.transfer_ms(b.payload_bytes, at);
    at += b.server_ms;
    if (b.result_bytes > 0)
      at += rq.downlink ? delay + rq.downlink->transfer_ms(b.result_bytes, at) : b.downlink_ms;
    out.push_back(at - t);
  }
  return out;
}

std::vector<double> uplink_quantile_ms(const LatencyEstimator& est, const LinkTrace& uplink, double q,
                                       const TraceRequests& rq) {
  if (!(q >= 0 && q <= 1)) fail("latency quantile ", q, ": expected 0 <= q <= 1 (0.5 the median, 0.95 the p95)");
  if (!(rq.step_ms > 0) || !std::isfinite(rq.step_ms))
    fail("trace request step ", rq.step_ms, " ms: expected a finite value > 0");
  const int B = est.space().num_blocks();
  const double delay = est.link().delay_ms;
  std::vector<double> out;
  for (int p = 0; p <= B; ++p) {
    const int64_t bytes = est.space().payload_bytes(p, est.encoding());  // as the estimator prices it
    if (p == B || bytes == 0) {
      out.push_back(0.0);
      continue;
    }
    std::vector<double> ms;
    for (double t = 0; t < uplink.period_ms(); t += rq.step_ms) ms.push_back(delay + uplink.transfer_ms(bytes, t));
    std::sort(ms.begin(), ms.end());
    out.push_back(quantile_sorted(ms, q));
  }
  return out;
}

LatencyEstimator quantile_estimator(const LatencyEstimator& est, const LinkTrace& uplink, double q,
                                    const TraceRequests& rq) {
  return est.with_uplink_ms(uplink_quantile_ms(est, uplink, q, rq));
}

std::vector<double> oracle_over_trace(const LatencyEstimator& est, const Arch& arch, int min_device_blocks,
                                      const LinkTrace& uplink, const TraceRequests& rq) {
  std::vector<double> best;
  for (int p = min_device_blocks; p <= est.space().num_blocks(); ++p) {
    const std::vector<double> at_p = latencies_over_trace(est, arch, p, uplink, rq);
    if (best.empty()) best = at_p;
    for (size_t i = 0; i < best.size(); ++i) best[i] = std::min(best[i], at_p[i]);
  }
  return best;
}

}  // namespace nasc
