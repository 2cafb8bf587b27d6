#include "search/categorical.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"

namespace nasc {

namespace {

std::vector<std::vector<bool>> all_allowed(const std::vector<int>& categories) {
  std::vector<std::vector<bool>> allowed;
  for (int k : categories) allowed.emplace_back(size_t(std::max(k, 0)), true);
  return allowed;
}

}  // namespace

CategoricalDistribution::CategoricalDistribution(std::vector<int> categories)
    : CategoricalDistribution(categories, all_allowed(categories)) {}

CategoricalDistribution::CategoricalDistribution(std::vector<int> categories,
                                                 std::vector<std::vector<bool>> allowed)
    : categories_(std::move(categories)), allowed_(std::move(allowed)) {
  if (categories_.empty()) fail("categorical distribution: expected at least one variable");
  if (allowed_.size() != categories_.size())
    fail("categorical distribution: mask has ", allowed_.size(), " rows, expected one per variable (",
         categories_.size(), ")");
  for (size_t d = 0; d < categories_.size(); ++d) {
    if (categories_[d] < 1)
      fail("categorical distribution: variable ", d, " has ", categories_[d], " categories, expected >= 1");
    if (int(allowed_[d].size()) != categories_[d])
      fail("categorical distribution: mask of variable ", d, " has ", allowed_[d].size(), " entries, expected ",
           categories_[d]);
    int n = int(std::count(allowed_[d].begin(), allowed_[d].end(), true));
    if (n == 0) fail("categorical distribution: variable ", d, " has no allowed category, expected at least one");
    allowed_count_.push_back(n);
    if (n > 1) ++free_variables_;
    std::vector<double> row(size_t(categories_[d]), 0.0);
    for (int k = 0; k < categories_[d]; ++k)
      if (allowed_[d][k]) row[k] = 1.0 / n;
    theta_.push_back(std::move(row));
  }
}

int CategoricalDistribution::num_parameters() const {
  int n = 0;
  for (int c : allowed_count_) n += c - 1;
  return n;
}

double CategoricalDistribution::theta_min(int d) const {
  if (allowed_count_[d] <= 1) return 0.0;
  return 1.0 / (double(free_variables_) * (allowed_count_[d] - 1));
}

void CategoricalDistribution::set_theta(Matrix theta) {
  if (theta.size() != categories_.size())
    fail("theta has ", theta.size(), " rows, expected one per variable (", categories_.size(), ")");
  for (size_t d = 0; d < theta.size(); ++d) {
    if (int(theta[d].size()) != categories_[d])
      fail("theta row ", d, " has ", theta[d].size(), " entries, expected ", categories_[d]);
    double sum = 0;
    for (int k = 0; k < categories_[d]; ++k) {
      double p = theta[d][k];
      if (!std::isfinite(p) || p < 0) fail("theta[", d, "][", k, "] = ", p, ", expected a probability");
      if (!allowed_[d][k] && p != 0)
        fail("theta[", d, "][", k, "] = ", p, " on a forbidden category, expected 0");
      sum += p;
    }
    if (std::abs(sum - 1.0) > 1e-9) fail("theta row ", d, " sums to ", sum, ", expected 1");
  }
  theta_ = std::move(theta);
}

Sample CategoricalDistribution::sample(std::mt19937_64& rng) const {
  Sample c(categories_.size());
  for (size_t d = 0; d < categories_.size(); ++d) {
    double u = double(rng() >> 11) * 0x1.0p-53;  // [0, 1)
    int last_allowed = 0;
    double cum = 0;
    int chosen = -1;
    for (int k = 0; k < categories_[d]; ++k) {
      if (!allowed_[d][k]) continue;
      last_allowed = k;
      cum += theta_[d][k];
      if (u < cum) {
        chosen = k;
        break;
      }
    }
    // Rounding can leave the cumulative sum a hair under 1.
    c[d] = chosen >= 0 ? chosen : last_allowed;
  }
  return c;
}

void CategoricalDistribution::check_sample(const Sample& c, const char* what) const {
  if (c.size() != categories_.size())
    fail(what, " has ", c.size(), " variables, expected ", categories_.size());
  for (size_t d = 0; d < c.size(); ++d)
    if (c[d] < 0 || c[d] >= categories_[d])
      fail(what, ": variable ", d, " = ", c[d], ", expected a category in [0, ", categories_[d], ")");
}

Matrix CategoricalDistribution::one_hot(const Sample& c) const {
  check_sample(c, "sample");
  Matrix x;
  for (size_t d = 0; d < c.size(); ++d) {
    x.emplace_back(size_t(categories_[d]), 0.0);
    x.back()[c[d]] = 1.0;
  }
  return x;
}

double CategoricalDistribution::log_likelihood(const Sample& c) const {
  check_sample(c, "sample");
  double ll = 0;
  for (size_t d = 0; d < c.size(); ++d) ll += std::log(theta_[d][c[d]]);
  return ll;
}

Sample CategoricalDistribution::mode() const {
  Sample m(categories_.size());
  for (size_t d = 0; d < theta_.size(); ++d)
    m[d] = int(std::max_element(theta_[d].begin(), theta_[d].end()) - theta_[d].begin());
  return m;
}

double CategoricalDistribution::convergence() const {
  if (free_variables_ == 0) return 1.0;
  double sum = 0;
  for (size_t d = 0; d < theta_.size(); ++d)
    if (allowed_count_[d] > 1) sum += *std::max_element(theta_[d].begin(), theta_[d].end());
  return sum / free_variables_;
}

bool CategoricalDistribution::converged(double threshold) const {
  for (size_t d = 0; d < theta_.size(); ++d)
    if (*std::max_element(theta_[d].begin(), theta_[d].end()) < threshold) return false;
  return true;
}

void CategoricalDistribution::move(const Matrix& direction, double step) {
  if (direction.size() != theta_.size()) fail("direction has ", direction.size(), " rows, expected ", theta_.size());
  for (size_t d = 0; d < theta_.size(); ++d) {
    if (direction[d].size() != theta_[d].size())
      fail("direction row ", d, " has ", direction[d].size(), " entries, expected ", theta_[d].size());
    for (size_t k = 0; k < theta_[d].size(); ++k)
      if (allowed_[d][k]) theta_[d][k] += step * direction[d][k];
  }
  clamp_to_floor();
}

void CategoricalDistribution::clamp_to_floor() {
  for (size_t d = 0; d < theta_.size(); ++d) {
    std::vector<double>& row = theta_[d];
    const int n = allowed_count_[d];
    const double lo = theta_min(int(d));
    if (n * lo >= 1.0) {  // no room above the floor (see the class comment): uniform is the only point
      for (size_t k = 0; k < row.size(); ++k) row[k] = allowed_[d][k] ? 1.0 / n : 0.0;
      continue;
    }
    double sum = 0;
    for (size_t k = 0; k < row.size(); ++k) {
      if (!allowed_[d][k]) continue;
      row[k] = std::max(row[k], lo);
      sum += row[k];
    }
    // Moving along a direction whose rows sum to 0 keeps sum = 1, so after the floor sum >= 1; the excess is
    // taken from each entry in proportion to its height above the floor, which cannot push it below.
    const double above = sum - lo * n;
    if (sum > 1.0 && above > 0)
      for (size_t k = 0; k < row.size(); ++k)
        if (allowed_[d][k]) row[k] -= (sum - 1.0) * (row[k] - lo) / above;
    sum = 0;
    for (double p : row) sum += p;
    for (double& p : row) p /= sum;
  }
}

json CategoricalDistribution::to_json() const {
  return json{{"categories", categories_}, {"allowed", allowed_}, {"theta", theta_}};
}

CategoricalDistribution CategoricalDistribution::from_json(const json& j, const std::string& context) {
  auto categories = json_get<std::vector<int>>(j, "categories", context);
  std::vector<std::vector<bool>> allowed;
  Matrix theta;
  try {
    if (!j.contains("allowed") || !j.contains("theta")) fail(context, ": expected fields 'allowed' and 'theta'");
    allowed = j.at("allowed").get<std::vector<std::vector<bool>>>();
    theta = j.at("theta").get<Matrix>();
  } catch (const json::exception&) {
    fail(context, ": 'allowed' and 'theta' must be arrays of arrays (of booleans and numbers)");
  }
  try {
    CategoricalDistribution dist(std::move(categories), std::move(allowed));
    dist.set_theta(std::move(theta));
    return dist;
  } catch (const Error& e) {
    fail(context, ": ", e.what());
  }
}

}  // namespace nasc
