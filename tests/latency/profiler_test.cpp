#include "latency/profiler.h"

#include <gtest/gtest.h>

#include <sstream>

#include "common/error.h"
#include "common/stats.h"
#include "latency_fixtures.h"

namespace nasc {
namespace {

TEST(TimingStats, OrderStatistics) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);  // 1..100, unsorted
  TimingStats s = timing_stats(v);
  EXPECT_EQ(s.n, 100);
  EXPECT_DOUBLE_EQ(s.median, 50.5);
  EXPECT_DOUBLE_EQ(s.q1, 25.75);
  EXPECT_DOUBLE_EQ(s.q3, 75.25);
  // Ranks 50 -+ 9.8 (1.96 sqrt(100) / 2): the 40th and 61st smallest values.
  EXPECT_EQ(s.ci_low, 40);
  EXPECT_EQ(s.ci_high, 61);
  EXPECT_NEAR(s.rel_ci_half_width(), 21.0 / 2 / 50.5, 1e-12);
  EXPECT_EQ(timing_stats(std::vector<double>(30, 2.0)).rel_ci_half_width(), 0.0);
}

// The one quantile used by the profiler, the server's stats and the client's report (src/common/stats.h).
TEST(TimingStats, QuantileInterpolatesBetweenClosestRanks) {
  EXPECT_EQ(quantile_sorted({}, 0.5), 0.0);
  EXPECT_EQ(quantile_sorted({7}, 0.99), 7.0);
  EXPECT_DOUBLE_EQ(quantile_sorted({1, 2, 3, 4}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(quantile_sorted({1, 2, 3, 4}, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(quantile_sorted({1, 2, 3, 4}, 1.0), 4.0);
  EXPECT_DOUBLE_EQ(quantile_sorted({0, 10}, 0.95), 9.5);
  EXPECT_DOUBLE_EQ(quantile_sorted({1, 2, 3}, 1.5), 3.0) << "q is clamped to [0, 1]";
}

TEST(Profiler, MeasuresEveryKeyOfTheSpace) {
  Space space = test::micro_space();
  ProfilerOptions o;
  o.min_reps = 5;
  o.max_seconds_per_key = 0.02;
  o.warmup_seconds = 0;
  o.device_class = "server";
  std::ostringstream progress;
  HardwareProfile p = profile_space(space, o, &progress);
  EXPECT_TRUE(p.missing_keys(space).empty());
  EXPECT_EQ(p.entries().size(), space_keys(space).size());
  for (auto& [key, e] : p.entries()) {
    EXPECT_GT(e.ms, 0.0) << key;
    ASSERT_TRUE(e.spread_ms.has_value()) << key;
    EXPECT_GE(*e.spread_ms, 0.0) << key;
  }
  EXPECT_EQ(p.meta().device_class, "server");
  EXPECT_EQ(p.meta().threads, 1);
  EXPECT_EQ(p.meta().batch_size, 1);
  EXPECT_GE(p.meta().repetitions.value_or(0), 5);
  // The LibTorch the profile was measured with (1.13 from Debian, 2.x from PyPI): the one this binary runs on.
  EXPECT_EQ(p.meta().libtorch_version, std::string(TORCH_VERSION));
  EXPECT_NE(p.meta().libtorch_version.find('.'), std::string::npos) << p.meta().libtorch_version;
  EXPECT_NE(progress.str().find("[8/8] FC_Cin16_Cout2"), std::string::npos) << progress.str();
  // What the profiler writes passes the loader's validation.
  EXPECT_NO_THROW(HardwareProfile::from_json(p.to_json(), "profiled"));
}

TEST(Profiler, RejectsBadOptions) {
  ProfilerOptions o;
  o.min_reps = 1;
  EXPECT_THROW(profile_space(test::micro_space(), o, nullptr), Error);
  o = ProfilerOptions{};
  o.device = "tpu";
  EXPECT_THROW(profile_space(test::micro_space(), o, nullptr), Error);
}

}  // namespace
}  // namespace nasc
