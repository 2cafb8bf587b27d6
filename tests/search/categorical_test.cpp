#include "search/categorical.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"

namespace nasc {
namespace {

TEST(CategoricalDistribution, StartsUniformWithFloorPerVariable) {
  CategoricalDistribution dist({9, 4, 1});
  EXPECT_EQ(dist.num_variables(), 3);
  EXPECT_EQ(dist.num_free_variables(), 2);
  EXPECT_EQ(dist.num_parameters(), 8 + 3);
  for (double p : dist.theta()[0]) EXPECT_DOUBLE_EQ(p, 1.0 / 9);
  for (double p : dist.theta()[1]) EXPECT_DOUBLE_EQ(p, 0.25);
  EXPECT_EQ(dist.theta()[2], std::vector<double>{1.0});
  EXPECT_DOUBLE_EQ(dist.theta_min(0), 1.0 / (2 * 8));  // the fixed variable does not count in D
  EXPECT_DOUBLE_EQ(dist.theta_min(1), 1.0 / (2 * 3));
  EXPECT_EQ(dist.theta_min(2), 0.0);
}

TEST(CategoricalDistribution, MaskZeroesForbiddenCategoriesAndShrinksK) {
  CategoricalDistribution dist({5, 9}, {{false, false, true, true, true}, std::vector<bool>(9, true)});
  EXPECT_EQ(dist.theta()[0], (std::vector<double>{0, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3}));
  EXPECT_EQ(dist.num_allowed(0), 3);
  EXPECT_EQ(dist.num_parameters(), 2 + 8);
  EXPECT_DOUBLE_EQ(dist.theta_min(0), 1.0 / (2 * 2));
}

TEST(CategoricalDistribution, RejectsBadShapes) {
  EXPECT_THROW(CategoricalDistribution({}), Error);
  EXPECT_THROW(CategoricalDistribution({3, 0}), Error);
  EXPECT_THROW(CategoricalDistribution({3}, {{true, true}}), Error);
  EXPECT_THROW(CategoricalDistribution({2}, {{false, false}}), Error);
  CategoricalDistribution dist({3});
  EXPECT_THROW(dist.set_theta({{0.5, 0.5, 0.5}}), Error);
  EXPECT_THROW(dist.set_theta({{0.5, 0.5}}), Error);
  EXPECT_THROW(dist.one_hot({3}), Error);
  EXPECT_THROW(dist.log_likelihood({0, 0}), Error);
}

TEST(CategoricalDistribution, OneHotLogLikelihoodModeConvergence) {
  CategoricalDistribution dist({3, 2});
  dist.set_theta({{0.2, 0.5, 0.3}, {0.6, 0.4}});
  EXPECT_EQ(dist.one_hot({1, 0}), (Matrix{{0, 1, 0}, {1, 0}}));
  EXPECT_DOUBLE_EQ(dist.log_likelihood({1, 0}), std::log(0.5) + std::log(0.6));
  EXPECT_EQ(dist.mode(), (Sample{1, 0}));
  EXPECT_DOUBLE_EQ(dist.convergence(), (0.5 + 0.6) / 2);
  EXPECT_TRUE(dist.converged(0.5));
  EXPECT_FALSE(dist.converged(0.55));  // variable 0 is at 0.5
}

TEST(CategoricalDistribution, SampleFrequenciesFollowTheta) {
  CategoricalDistribution dist({4, 3});
  dist.set_theta({{0.1, 0.2, 0.3, 0.4}, {0.7, 0.0, 0.3}});
  std::mt19937_64 rng(7);
  const int n = 40000;
  std::vector<std::vector<int>> counts{std::vector<int>(4), std::vector<int>(3)};
  for (int i = 0; i < n; ++i) {
    Sample c = dist.sample(rng);
    ++counts[0][c[0]];
    ++counts[1][c[1]];
  }
  for (int d = 0; d < 2; ++d)
    for (size_t k = 0; k < counts[d].size(); ++k) EXPECT_NEAR(double(counts[d][k]) / n, dist.prob(d, k), 0.01);
  EXPECT_EQ(counts[1][1], 0);  // probability 0 is never drawn
}

TEST(CategoricalDistribution, SamplingIsDeterministicPerSeed) {
  CategoricalDistribution dist({9, 9, 5});
  std::mt19937_64 a(42), b(42), c(43);
  std::vector<Sample> sa, sb, sc;
  for (int i = 0; i < 20; ++i) sa.push_back(dist.sample(a)), sb.push_back(dist.sample(b)), sc.push_back(dist.sample(c));
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
}

TEST(CategoricalDistribution, MaskedCategoriesNeverSampledEvenWhenPushed) {
  CategoricalDistribution dist({6, 6}, {{true, false, true, false, true, false}, std::vector<bool>(6, true)});
  // A direction towards the forbidden categories is ignored on them.
  dist.move({{-1, 5, -1, 5, -1, 5}, {0, 0, 0, 0, 0, 0}}, 1.0);
  for (int k : {1, 3, 5}) EXPECT_EQ(dist.prob(0, k), 0.0);
  std::mt19937_64 rng(1);
  for (int i = 0; i < 5000; ++i) EXPECT_EQ(dist.sample(rng)[0] % 2, 0);
}

TEST(CategoricalDistribution, ClampTakesExcessFromMassAboveFloor) {
  CategoricalDistribution dist({4, 4});  // floor 1/(2*3) = 1/6
  dist.set_theta({{0.9, 0.1, 0.0, 0.0}, {0.25, 0.25, 0.25, 0.25}});
  dist.clamp_to_floor();
  // Raised to {0.9, 1/6, 1/6, 1/6} (sum 1.4); the excess 0.4 all comes from the only entry above the floor.
  EXPECT_NEAR(dist.prob(0, 0), 0.5, 1e-15);
  for (int k = 1; k < 4; ++k) EXPECT_NEAR(dist.prob(0, k), 1.0 / 6, 1e-15);
  for (int k = 0; k < 4; ++k) EXPECT_DOUBLE_EQ(dist.prob(1, k), 0.25);
}

TEST(CategoricalDistribution, ClampWithoutRoomGivesUniform) {
  CategoricalDistribution dist({3});  // D = 1: floor 1/2 per category cannot be met
  dist.set_theta({{0.8, 0.1, 0.1}});
  dist.clamp_to_floor();
  for (int k = 0; k < 3; ++k) EXPECT_DOUBLE_EQ(dist.prob(0, k), 1.0 / 3);
}

TEST(CategoricalDistribution, JsonRoundTripIsExact) {
  CategoricalDistribution dist({3, 4}, {{true, true, true}, {true, false, true, true}});
  dist.set_theta({{0.1 + 1e-17, 0.2, 0.7 - 1e-17}, {1.0 / 3, 0.0, 1.0 / 7, 1.0 - 1.0 / 3 - 1.0 / 7}});
  auto back = CategoricalDistribution::from_json(json::parse(dist.to_json().dump()), "test");
  EXPECT_EQ(back.theta(), dist.theta());
  EXPECT_EQ(back.categories(), dist.categories());
  EXPECT_FALSE(back.allowed(1, 1));
  EXPECT_TRUE(back.allowed(1, 2));
}

TEST(CategoricalDistribution, FromJsonNamesContextOnBadTheta) {
  json j = CategoricalDistribution({2, 3}).to_json();
  j["theta"][1] = {0.5, 0.5, 0.5};
  try {
    CategoricalDistribution::from_json(j, "state.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("state.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("sums to"), std::string::npos) << e.what();
  }
  j.erase("theta");
  EXPECT_THROW(CategoricalDistribution::from_json(j, "state.json"), Error);
}

}  // namespace
}  // namespace nasc
