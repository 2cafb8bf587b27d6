#include "common/stats.h"

#include <gtest/gtest.h>

using namespace nasc;

// Hand-counted: a = 1 2 3 4, b = 1 3 2 4 has 5 concordant pairs and 1 discordant (2,3): tau = 4/6.
TEST(Stats, KendallTauCountsConcordantAndDiscordantPairs) {
  EXPECT_DOUBLE_EQ(kendall_tau({1, 2, 3, 4}, {1, 3, 2, 4}), 4.0 / 6.0);
  EXPECT_DOUBLE_EQ(kendall_tau({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(kendall_tau({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  // tau-b with a tie in b: pairs 6, untied in a 6, in b 5; concordant 5 (all but the tied pair), discordant 0.
  EXPECT_DOUBLE_EQ(kendall_tau({1, 2, 3, 4}, {1, 2, 2, 3}), 5.0 / std::sqrt(30.0));
  EXPECT_EQ(kendall_tau({1, 1, 1}, {1, 2, 3}), 0.0);
  EXPECT_EQ(kendall_tau({1}, {1}), 0.0);
}

TEST(Stats, SpearmanIsPearsonOfRanks) {
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {1, 4, 9, 16}), 1.0);  // monotone, not linear
  EXPECT_NEAR(spearman({1, 2, 3, 4}, {1, 3, 2, 4}), 0.8, 1e-12);  // 1 - 6 * 2 / (4 * 15)
}
