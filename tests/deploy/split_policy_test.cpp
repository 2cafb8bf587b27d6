// The adaptive split policy against a synthetic link whose bandwidth the test sets per request: each transfer time is
// computed from the true bandwidth (with optional noise) and fed back, so every expected number is known.
#include "deploy/split_policy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "common/error.h"
#include "deploy_test_util.h"

namespace nasc {
namespace {

using nasc::test::error_of;

constexpr double kDelay = 5;  // ms, one way

// At 20 Mbit/s (0.0004 ms per byte) the early and mid splits tie at 41 ms (early 4 + 12 + 5 + 20, mid 24 + 4 + 5 + 8),
// so that noise alone decides between them; at 0.5 Mbit/s they cost 821 and 353 ms against device-only's 70.
std::vector<SplitCost> three_splits() { return {{1, 4, 12, 50000, 0}, {3, 24, 4, 20000, 0}, {5, 70, 0, 0, 0}}; }

const SplitCost& cost_of(const std::vector<SplitCost>& costs, int split) {
  for (const SplitCost& c : costs)
    if (c.split == split) return c;
  throw std::logic_error("no such split");
}

std::vector<double> phases(std::initializer_list<std::pair<int, double>> spans) {
  std::vector<double> bw;
  for (auto [n, mbps] : spans) bw.insert(bw.end(), size_t(n), mbps);
  return bw;
}

struct Trace {
  std::vector<int> chosen, current;  // per request: the split used, and the policy's current split after it
  double total_ms = 0, oracle_ms = 0;
};

// Drives `policy` over one request per entry of `mbps`, uplink times off by up to +-noise (uniform; mt19937's output
// is fixed by the standard, so the run is the same everywhere).
Trace drive(SplitPolicy& policy, const std::vector<SplitCost>& costs, const std::vector<double>& mbps, double noise) {
  std::mt19937 rng(7);
  Trace run;
  for (double bw : mbps) {
    const int split = policy.choose();
    const SplitCost& c = cost_of(costs, split);
    const double jitter = 1 + noise * (2.0 * double(rng()) / 4294967296.0 - 1);
    const double up_ms = c.payload_bytes > 0 ? (kDelay + 8.0 * double(c.payload_bytes) / (bw * 1e3)) * jitter : 0;
    run.total_ms += c.device_ms + up_ms + c.server_ms;
    run.oracle_ms += split_total_ms(cost_of(costs, oracle_split(costs, bw, kDelay, 0)), bw, kDelay, 0);
    policy.observe(split, c.payload_bytes, up_ms);
    run.chosen.push_back(split);
    run.current.push_back(policy.current());
  }
  return run;
}

SplitPolicyOptions options(double prior_mbps, int probe_every) {
  SplitPolicyOptions o;
  o.link = {prior_mbps, kDelay, 0.3};
  o.probe_every = probe_every;
  return o;
}

TEST(LinkEstimate, RecoversAConstantLinkFromOneSample) {
  LinkEstimate est({10, kDelay, 1.0});
  EXPECT_DOUBLE_EQ(est.mbps(), 10);
  EXPECT_TRUE(est.observe(100000, kDelay + 200));  // 800000 bit in 200 ms past the delay = 4 Mbit/s
  EXPECT_DOUBLE_EQ(est.mbps(), 4);
  EXPECT_EQ(est.samples(), 1);
}

TEST(LinkEstimate, SmoothsTimePerByteNotThroughput) {
  LinkEstimate est({10, kDelay, 0.5});  // 0.0008 ms per byte
  est.observe(10000, kDelay + 2);       // 40 Mbit/s: 0.0002 ms/B -> 0.5 * 0.0008 + 0.5 * 0.0002 = 0.0005
  EXPECT_NEAR(est.mbps(), 16, 1e-9);
  est.observe(1000, kDelay + 8);            // 1 Mbit/s: 0.008 ms/B -> 0.5 * 0.0005 + 0.5 * 0.008 = 0.00425 ms/B
  EXPECT_NEAR(est.mbps(), 8 / 4.25, 1e-9);  // an EWMA of throughputs would say 0.5 * 25 + 0.5 * 1 = 13
  EXPECT_NEAR(est.predict_ms(20000), kDelay + 20000 * 0.00425, 1e-9);  // 90 ms
  EXPECT_EQ(est.predict_ms(0), 0);
}

TEST(LinkEstimate, IgnoresBadSamplesAndBoundsAFastOne) {
  LinkEstimate est({10, kDelay, 0.5});
  for (auto [bytes, ms] : std::vector<std::pair<int64_t, double>>{
           {0, 10}, {-5, 10}, {1000, -1}, {1000, std::nan("")}, {1000, std::numeric_limits<double>::infinity()}})
    EXPECT_FALSE(est.observe(bytes, ms)) << bytes << " bytes in " << ms << " ms";
  EXPECT_EQ(est.samples(), 0);
  EXPECT_DOUBLE_EQ(est.mbps(), 10);
  // Done within the delay floor (jitter): as throughput it is near infinite, as time per byte near 0, so one such
  // sample at alpha 0.5 at most halves the time per byte, i.e. at most doubles the bandwidth.
  EXPECT_TRUE(est.observe(1000, kDelay - 1));
  EXPECT_GT(est.mbps(), 19.9);
  EXPECT_LT(est.mbps(), 20);
}

TEST(LinkEstimate, RefusesBadOptions) {
  EXPECT_NE(error_of([] { LinkEstimate({0, 0, 0.3}); }).find("initial_mbps"), std::string::npos);
  EXPECT_NE(error_of([] { LinkEstimate({10, -1, 0.3}); }).find("delay_ms"), std::string::npos);
  EXPECT_NE(error_of([] { LinkEstimate({10, 0, 0}); }).find("alpha"), std::string::npos);
  EXPECT_NE(error_of([] { LinkEstimate({10, 0, 1.5}); }).find("alpha"), std::string::npos);
}

TEST(SplitPolicy, PredictsTotalsAndTheOracle) {
  const auto costs = three_splits();
  SplitPolicy fast(costs, options(20, 0));
  EXPECT_NEAR(fast.predicted_total_ms(1), 41, 1e-9);
  EXPECT_NEAR(fast.predicted_total_ms(3), 41, 1e-9);
  EXPECT_NEAR(fast.predicted_total_ms(5), 70, 1e-9);
  EXPECT_EQ(fast.choose(), 1);  // a tie, so the first listed
  SplitPolicy slow(costs, options(0.5, 0));
  EXPECT_NEAR(slow.predicted_total_ms(3), 24 + 4 + 5 + 320, 1e-9);
  EXPECT_EQ(slow.choose(), 5);
  // 10 Mbit/s: early 21 + 40 = 61, mid 33 + 16 = 49, device-only 70.
  EXPECT_EQ(oracle_split(costs, 10, kDelay, 0), 3);
  EXPECT_EQ(oracle_split(costs, 100, kDelay, 0), 1);
  EXPECT_EQ(oracle_split(costs, 0.5, kDelay, 0), 5);
  // Result bytes cost the delay plus their time on the downlink: 1000 B at 8 Mbit/s = 1 ms.
  const SplitCost back{2, 10, 10, 2500, 1000};
  EXPECT_NEAR(split_total_ms(back, 20, kDelay, 8), 10 + 5 + 1 + 10 + 5 + 1, 1e-9);
  EXPECT_NEAR(split_total_ms(back, 20, kDelay, 0), 10 + 5 + 1 + 10, 1e-9);
}

TEST(SplitPolicy, FollowsTheLinkWithoutFlapping) {
  const auto costs = three_splits();
  const auto link = phases({{50, 20}, {50, 0.5}, {50, 20}});
  SplitPolicy steady(costs, options(20, 10));
  const Trace run = drive(steady, costs, link, 0.05);
  EXPECT_NE(run.current[49], 5);
  EXPECT_EQ(run.current[99], 5);
  for (int r = 60; r < 100; ++r) {  // the slow phase is served on device-only, but for the probes
    if (run.chosen[size_t(r)] != 5) {
      EXPECT_EQ(run.current[size_t(r)], 5) << "request " << r;
    }
  }
  for (int r = 120; r < 150; ++r) EXPECT_NE(run.chosen[size_t(r)], 5) << "request " << r;
  EXPECT_GE(steady.probes(), 3);
  EXPECT_LE(steady.switches(), 4);  // fast -> device-only -> fast, and perhaps one more on the way
  // Against an oracle that knows every request's bandwidth (7600 ms), and any split kept throughout (device-only:
  // 150 x 70 = 10500 ms). What it pays: the first slow request on the early split, probes on the slow link, and the
  // probes until the estimate believes the link is fast again.
  EXPECT_LE(run.total_ms, 1.35 * run.oracle_ms) << run.total_ms << " vs oracle " << run.oracle_ms;
  EXPECT_LT(run.total_ms, 150 * 70.0);

  SplitPolicyOptions eager = options(20, 10);
  eager.hysteresis = 0;
  eager.min_dwell = 0;
  SplitPolicy flappy(costs, eager);
  drive(flappy, costs, link, 0.05);
  EXPECT_GE(flappy.switches(), 10);  // the +-5% noise alone swaps the tied early and mid splits
  EXPECT_GE(flappy.switches(), 3 * steady.switches());
}

TEST(SplitPolicy, DwellsAfterASwitch) {
  auto sequence = [](int min_dwell, int requests) {
    SplitPolicyOptions o = options(20, 0);
    o.hysteresis = 0;
    o.min_dwell = min_dwell;
    SplitPolicy policy({{1, 4, 12, 50000, 0}, {3, 24, 4, 20000, 0}}, o);
    std::vector<int> chosen;
    for (int r = 0; r < requests; ++r) {
      chosen.push_back(policy.choose());
      if (r == 0) {
        // 0.0008 ms/B -> 0.00052: early 21 + 26 = 47, mid 33 + 10.4 = 43.4, so it leaves the prior's pick at once.
        policy.observe(1, 50000, kDelay + 50000 * 0.0008);
      } else {
        // 0.00001 ms/B -> 0.000367 after the first: early 39.35, mid 40.34, and the early split only gains after.
        policy.observe(chosen.back(), 20000, kDelay + 20000 * 0.00001);
      }
    }
    return chosen;
  };
  EXPECT_EQ(sequence(3, 5), (std::vector<int>{1, 3, 3, 3, 1}));
  EXPECT_EQ(sequence(0, 3), (std::vector<int>{1, 3, 1}));
}

TEST(SplitPolicy, ProbesFindALinkThatBecameFastAgain) {
  const auto costs = three_splits();
  const auto link = phases({{30, 0.5}, {60, 20}});
  SplitPolicy blind(costs, options(20, 0));
  const Trace stuck = drive(blind, costs, link, 0);
  EXPECT_EQ(stuck.chosen[0], 1);  // the prior says fast; the first transfer says otherwise
  for (int r = 10; r < 90; ++r) EXPECT_EQ(stuck.chosen[size_t(r)], 5) << "request " << r;
  EXPECT_EQ(blind.link().samples(), 1);  // device-only teaches nothing, so it would stay there forever
  EXPECT_EQ(blind.probes(), 0);

  SplitPolicy probing(costs, options(20, 10));
  const Trace found = drive(probing, costs, link, 0);
  EXPECT_EQ(found.current[29], 5);  // probing the slow link did not move it off device-only
  EXPECT_GE(probing.probes(), 2);
  for (int r = 60; r < 90; ++r) EXPECT_NE(found.chosen[size_t(r)], 5) << "request " << r;
  EXPECT_NE(probing.current(), 5);
  EXPECT_LT(found.total_ms, stuck.total_ms);
}

TEST(SplitPolicy, ReportsSharesSwitchesAndTheEstimate) {
  const auto costs = three_splits();
  SplitPolicy policy(costs, options(20, 0));
  drive(policy, costs, phases({{10, 20}, {10, 0.5}}), 0);
  const json r = policy.report();
  EXPECT_EQ(r.at("requests"), 20);
  EXPECT_EQ(r.at("switches"), policy.switches());
  EXPECT_EQ(r.at("probes"), 0);
  EXPECT_EQ(r.at("current"), 5);
  EXPECT_DOUBLE_EQ(r.at("mbps").get<double>(), policy.link().mbps());
  double share = 0;
  int64_t requests = 0;
  for (const json& s : r.at("splits")) {
    share += s.at("share").get<double>();
    requests += s.at("requests").get<int64_t>();
    EXPECT_DOUBLE_EQ(s.at("predicted_total_ms").get<double>(), policy.predicted_total_ms(s.at("split")));
  }
  EXPECT_NEAR(share, 1, 1e-12);
  EXPECT_EQ(requests, 20);
}

TEST(SplitPolicy, RefusesBadCostsAndOptions) {
  auto refused = [](std::vector<SplitCost> costs, SplitPolicyOptions o = SplitPolicyOptions{}) {
    return error_of([&] { SplitPolicy(costs, o); });
  };
  auto with = [](std::function<void(SplitPolicyOptions&)> f) {
    SplitPolicyOptions o;
    f(o);
    return o;
  };
  auto has = [](const std::string& msg, const char* field) { return msg.find(field) != std::string::npos; };
  EXPECT_TRUE(has(refused({}), "at least one"));
  EXPECT_TRUE(has(refused({{1, 1, 1, 10, 0}, {1, 2, 1, 10, 0}}), "listed twice"));
  EXPECT_TRUE(has(refused({{1, -1, 1, 10, 0}}), "device_ms"));
  EXPECT_TRUE(has(refused({{1, 1, std::nan(""), 10, 0}}), "server_ms"));
  EXPECT_TRUE(has(refused({{1, 1, 1, -10, 0}}), "payload_bytes"));
  EXPECT_TRUE(has(refused({{1, 1, 1, 10, -1}}), "result_bytes"));
  EXPECT_TRUE(has(refused({{1, 1, 1, 0, 0}, {2, 1, 1, 10, 0}}), "payload_bytes = 0"));
  EXPECT_TRUE(has(refused({{1, 1, 1, 10, 0}, {2, 5, 1, 0, 0}}), "server_ms = 0"));
  EXPECT_TRUE(has(refused({{-1, 1, 1, 10, 0}}), "index"));
  const auto costs = three_splits();
  EXPECT_TRUE(has(refused(costs, with([](auto& o) { o.hysteresis = 1; })), "hysteresis"));
  EXPECT_TRUE(has(refused(costs, with([](auto& o) { o.min_dwell = -1; })), "min_dwell"));
  EXPECT_TRUE(has(refused(costs, with([](auto& o) { o.probe_every = -1; })), "probe_every"));
  EXPECT_TRUE(has(refused(costs, with([](auto& o) { o.downlink_mbps = -1; })), "downlink_mbps"));
  EXPECT_TRUE(has(refused(costs, with([](auto& o) { o.link.alpha = 0; })), "alpha"));
  EXPECT_EQ(refused(costs), "");
  SplitPolicy policy(costs, SplitPolicyOptions{});
  EXPECT_TRUE(has(error_of([&] { policy.observe(2, 10, 1); }), "split 2"));
  EXPECT_TRUE(has(error_of([&] { policy.predicted_total_ms(4); }), "split 4"));
}

}  // namespace
}  // namespace nasc
