// Order statistics shared by the profiler, the server's and client's latency reports and the benchmarks.
#pragma once
#include <algorithm>
#include <cstddef>
#include <vector>

namespace nasc {

// The q-quantile (0 <= q <= 1) of ascending-sorted values, interpolating linearly between the two closest ranks
// (numpy's default), so that the median of an even count is the mean of the middle two. 0 for no values.
inline double quantile_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0.0;
  const double pos = std::clamp(q, 0.0, 1.0) * double(sorted.size() - 1);
  const size_t lo = size_t(pos), hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - double(lo));
}

}  // namespace nasc
