#include "data/normalizer.h"

#include <cmath>

#include "common/error.h"

namespace nasc {

Normalizer Normalizer::fit(const ImageSet& set, const std::vector<int64_t>& idx) {
  const int64_t n = idx.empty() ? set.size() : int64_t(idx.size());
  if (n == 0 || set.c <= 0) fail("cannot fit normalisation on empty data set ", set.name);
  const int64_t plane = int64_t(set.h) * set.w;
  // Integer sums are exact and fast; they fit in 64 bits for any set the readers accept.
  std::vector<uint64_t> sum(size_t(set.c), 0), sum_sq(size_t(set.c), 0);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = idx.empty() ? k : idx[size_t(k)];
    if (i < 0 || i >= set.size())
      fail("normalisation of ", set.name, ": index ", i, " out of range (expected 0..", set.size() - 1, ")");
    const uint8_t* img = set.image(i);
    for (int c = 0; c < set.c; ++c) {
      uint64_t s = 0, s2 = 0;
      for (int64_t p = 0; p < plane; ++p) {
        const uint32_t v = img[c * plane + p];
        s += v;
        s2 += v * v;
      }
      sum[size_t(c)] += s;
      sum_sq[size_t(c)] += s2;
    }
  }
  Normalizer norm;
  const double count = double(n) * double(plane);
  for (int c = 0; c < set.c; ++c) {
    const double mean = double(sum[size_t(c)]) / count;
    const double var = std::max(0.0, double(sum_sq[size_t(c)]) / count - mean * mean);
    const double sd = std::sqrt(var);
    norm.mean.push_back(float(mean / 255.0));
    norm.std.push_back(sd < 1e-3 ? 1.0f : float(sd / 255.0));
  }
  return norm;
}

Normalizer Normalizer::identity(int channels) {
  return Normalizer{std::vector<float>(size_t(channels), 0.0f), std::vector<float>(size_t(channels), 1.0f)};
}

std::vector<float> Normalizer::scale() const {
  std::vector<float> s;
  for (float sd : std) s.push_back(float(1.0 / (255.0 * sd)));
  return s;
}

std::vector<float> Normalizer::offset() const {
  std::vector<float> o;
  for (size_t c = 0; c < mean.size(); ++c) o.push_back(-mean[c] / std[c]);
  return o;
}

json Normalizer::to_json() const { return json{{"mean", mean}, {"std", std}}; }

Normalizer Normalizer::from_json(const json& j, const std::string& context) {
  Normalizer n;
  for (double v : json_get<std::vector<double>>(j, "mean", context)) n.mean.push_back(float(v));
  for (double v : json_get<std::vector<double>>(j, "std", context)) n.std.push_back(float(v));
  if (n.mean.empty() || n.mean.size() != n.std.size())
    fail(context, ": normalisation has ", n.mean.size(), " means and ", n.std.size(),
         " stds (expected one of each per channel)");
  for (size_t c = 0; c < n.mean.size(); ++c)
    if (!std::isfinite(n.mean[c]) || !std::isfinite(n.std[c]) || n.std[c] <= 0)
      fail(context, ": normalisation of channel ", c, " has mean ", n.mean[c], " and std ", n.std[c],
           " (expected finite values and std > 0)");
  return n;
}

}  // namespace nasc
