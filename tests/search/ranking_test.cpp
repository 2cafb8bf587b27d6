#include "search/ranking.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"

namespace nasc {
namespace {

void expect_utilities(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-15) << "sample " << i;
}

TEST(RankUtility, LambdaTwoBestGetsHalfWorstMinusHalf) {
  expect_utilities(rank_utility({3.0, 1.0}), {-0.5, 0.5});
  expect_utilities(rank_utility({1.0, 3.0}), {0.5, -0.5});
}

TEST(RankUtility, LambdaTwoTieGivesZero) { expect_utilities(rank_utility({2.0, 2.0}), {0.0, 0.0}); }

TEST(RankUtility, LambdaFourTopAndBottomQuarter) {
  // Order: 1 (idx 1), 2 (idx 3), 3 (idx 2), 4 (idx 0); mu = 1.
  expect_utilities(rank_utility({4.0, 1.0, 3.0, 2.0}), {-0.25, 0.25, 0.0, 0.0});
}

TEST(RankUtility, LambdaFourTiesShareMeanOfTheirPositions) {
  // Best two tie: mean(+1, 0) / 4.
  expect_utilities(rank_utility({1.0, 1.0, 2.0, 3.0}), {0.125, 0.125, 0.0, -0.25});
  // Worst three tie: mean(0, 0, -1) / 4.
  expect_utilities(rank_utility({2.0, 1.0, 2.0, 2.0}), {-1.0 / 12, 0.25, -1.0 / 12, -1.0 / 12});
  // All tie: nothing to learn.
  expect_utilities(rank_utility({5.0, 5.0, 5.0, 5.0}), {0.0, 0.0, 0.0, 0.0});
}

TEST(RankUtility, MuIsCeilingOfLambdaOverFour) {
  expect_utilities(rank_utility({0, 1, 2, 3, 4}), {0.2, 0.2, 0.0, -0.2, -0.2});
  expect_utilities(rank_utility({7, 6, 5, 4, 3, 2, 1, 0}),
                   {-0.125, -0.125, 0.0, 0.0, 0.0, 0.0, 0.125, 0.125});
  expect_utilities(rank_utility({0, 1, 2}), {1.0 / 3, 0.0, -1.0 / 3});
}

TEST(RankUtility, FeasibleBeatsInfeasibleWhateverTheLoss) {
  expect_utilities(rank_utility({0.1, 5.0}, {2.0, 0.0}), {-0.5, 0.5});
}

TEST(RankUtility, InfeasibleRankedByViolationNotLoss) {
  // Feasible idx 2, 3 tie on loss (positions 1, 2); then v = 1 (idx 1), then v = 3 (idx 0).
  expect_utilities(rank_utility({0.0, 0.0, 9.0, 9.0}, {3.0, 1.0, 0.0, 0.0}), {-0.25, 0.0, 0.125, 0.125});
  // Equal violations tie even with different losses.
  expect_utilities(rank_utility({1.0, 2.0}, {0.5, 0.5}), {0.0, 0.0});
  expect_utilities(rank_utility({1.0, 2.0}, {0.7, 0.5}), {-0.5, 0.5});
}

// The penalised ranking lets a sample just over T with a much lower loss win; a heavy weight restores the order of
// the hard rule.
TEST(RankUtility, PenalisedRankingTradesViolationAgainstLoss) {
  const std::vector<double> losses{1.0, 2.0}, violations{0.01, 0.0};  // T_max = 1: sample 0 is 1% over
  expect_utilities(rank_utility(losses, violations), {-0.5, 0.5});
  expect_utilities(rank_utility_penalised(losses, violations, 1.0, 1.0), {0.5, -0.5});
  expect_utilities(rank_utility_penalised(losses, violations, 1.0, 1000.0), {-0.5, 0.5});
  expect_utilities(rank_utility_penalised(losses, violations, 1.0, 0.0), {0.5, -0.5});
  EXPECT_THROW(rank_utility_penalised(losses, violations, 0.0, 1.0), Error);
  EXPECT_THROW(rank_utility_penalised(losses, {0.01, -1.0}, 1.0, 1.0), Error);
}

TEST(RankUtility, RejectsBadInput) {
  EXPECT_THROW(rank_utility({1.0}), Error);
  EXPECT_THROW(rank_utility({1.0, 2.0}, {0.0}), Error);
  EXPECT_THROW(rank_utility({std::nan(""), 2.0}), Error);
  EXPECT_THROW(rank_utility({1.0, 2.0}, {-1.0, 0.0}), Error);
}

TEST(LatencyViolation, ExcessOverThresholdOrZero) {
  EXPECT_DOUBLE_EQ(latency_violation(12.5, 10.0), 2.5);
  EXPECT_EQ(latency_violation(8.0, 10.0), 0.0);
  EXPECT_EQ(latency_violation(10.0, 10.0), 0.0);
}

}  // namespace
}  // namespace nasc
