// Order statistics and agreement measures shared by the profiler, the profile fit, the server's and client's
// latency reports and the benchmarks.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
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

// Ranks 0..n-1 of `v` in ascending order; tied values share the mean of their ranks.
inline std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    for (size_t k = i; k <= j; ++k) r[idx[k]] = (i + j) / 2.0;
    i = j + 1;
  }
  return r;
}

// Pearson correlation of two equally long series; 0 when either is constant or they are empty.
inline double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || a.size() != b.size()) return 0.0;
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / a.size();
  const double mb = std::accumulate(b.begin(), b.end(), 0.0) / b.size();
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0.0;
}

inline double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  return pearson(ranks(a), ranks(b));
}

// Kendall's tau-b of two equally long series: (concordant - discordant) pairs over the geometric mean of the pairs
// not tied in each series, so ties neither count for nor against. 0 when either series is constant or too short.
// O(n^2): meant for the tens of architectures a ranking study retrains.
inline double kendall_tau(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() < 2 || a.size() != b.size()) return 0.0;
  double concordant = 0, discordant = 0, untied_a = 0, untied_b = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = i + 1; j < a.size(); ++j) {
      const double da = a[i] - a[j], db = b[i] - b[j];
      if (da != 0) untied_a += 1;
      if (db != 0) untied_b += 1;
      if (da * db > 0) concordant += 1;
      if (da * db < 0) discordant += 1;
    }
  return untied_a > 0 && untied_b > 0 ? (concordant - discordant) / std::sqrt(untied_a * untied_b) : 0.0;
}

// Mean absolute percentage error of `predicted` against `measured` (all measured > 0), in percent.
inline double mape_percent(const std::vector<double>& predicted, const std::vector<double>& measured) {
  if (measured.empty()) return 0.0;
  double s = 0;
  for (size_t i = 0; i < measured.size(); ++i) s += std::abs(predicted[i] - measured[i]) / measured[i];
  return 100 * s / measured.size();
}

// Coefficient of determination of `predicted` for `measured`: 1 - SS_res / SS_tot (1 is a perfect fit).
inline double r_squared(const std::vector<double>& predicted, const std::vector<double>& measured) {
  if (measured.empty()) return 0.0;
  const double m = std::accumulate(measured.begin(), measured.end(), 0.0) / measured.size();
  double res = 0, tot = 0;
  for (size_t i = 0; i < measured.size(); ++i) {
    res += (measured[i] - predicted[i]) * (measured[i] - predicted[i]);
    tot += (measured[i] - m) * (measured[i] - m);
  }
  return tot > 0 ? 1.0 - res / tot : (res == 0 ? 1.0 : 0.0);
}

}  // namespace nasc
