// Link traces: transfer times hand-computed on small traces of both formats (looping, outages, packets), the
// latency of a split over a trace against the constant-link estimator, and bad files refused naming the line.
#include "latency/link_trace.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "latency/trace_latency.h"
#include "latency_fixtures.h"

namespace nasc {
namespace {

std::string error_of(const std::string& text) {
  try {
    LinkTrace::parse(text, "t.csv");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(LinkTrace, CsvSegmentsLoopThroughOutages) {
  // 8 Mbit/s (1,000 bytes per ms) for 1 s, then nothing for 1 s; it loops every 2 s and carries a delay column.
  LinkTrace t = LinkTrace::parse("seconds,mbps,delay_ms\n0,8,3\n1,0,7\n", "t.csv");
  EXPECT_EQ(t.format(), "csv");
  EXPECT_DOUBLE_EQ(t.period_ms(), 2000);  // the last row lasts as long as the gap before it
  EXPECT_DOUBLE_EQ(t.mean_mbps(), 4);
  EXPECT_DOUBLE_EQ(t.transfer_ms(5000, 0), 5 + 3);
  EXPECT_DOUBLE_EQ(t.transfer_ms(2000, 999), 1 + 1000 + 1 + 3);  // 1,000 bytes, the outage, 1,000 more
  EXPECT_DOUBLE_EQ(t.transfer_ms(2000, 1500), 500 + 2 + 7);      // waits out the outage; its delay applies
  EXPECT_DOUBLE_EQ(t.transfer_ms(2000, 4100), 2 + 3);            // third loop
  EXPECT_DOUBLE_EQ(t.transfer_ms(3000000, 0), 5000 + 3);         // three loops' worth of bytes
  EXPECT_EQ(t.transfer_ms(0, 10), 0);
  EXPECT_EQ(t.window_mbps(), (std::vector<double>{8, 0}));
  EXPECT_DOUBLE_EQ(t.delivered(500, 3000), 1000.0 * (500 + 1000));
}

TEST(LinkTrace, MahimahiPacketsAreWholeDeliveryOpportunities) {
  // Opportunities at 1, 1, 3 and 10 ms of a 10 ms loop, 1,500 bytes each.
  LinkTrace t = LinkTrace::parse("1\n1\n3\n\n10\n", "x.up");
  EXPECT_EQ(t.format(), "mahimahi");
  EXPECT_EQ(t.name(), "x.up");
  EXPECT_DOUBLE_EQ(t.period_ms(), 10);
  EXPECT_DOUBLE_EQ(t.mean_mbps(), 4 * 1500 * 8 / (10 * 1000.0));
  EXPECT_DOUBLE_EQ(t.transfer_ms(1, 0), 1);      // one byte takes a whole packet
  EXPECT_DOUBLE_EQ(t.transfer_ms(3000, 0), 1);   // two packets in the same ms
  EXPECT_DOUBLE_EQ(t.transfer_ms(3001, 0), 3);   // a third packet
  EXPECT_DOUBLE_EQ(t.transfer_ms(1, 4), 6);      // waits for the opportunity at 10 ms
  EXPECT_DOUBLE_EQ(t.transfer_ms(1, 10), 1);     // next loop: its first opportunity at 10 + 1
  EXPECT_DOUBLE_EQ(t.transfer_ms(7500, 2), 11);  // opportunities at 3, 10, 11, 11, 13
  EXPECT_DOUBLE_EQ(t.transfer_ms(1, 3), 0);      // the opportunity at the very moment is still usable
}

TEST(LinkTrace, BadFilesAreRefusedNamingTheLine) {
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("5\n3\n").find("t.csv line 2: '3'"), std::string::npos) << error_of("5\n3\n");
  EXPECT_NE(error_of("1\nabc\n").find("line 2"), std::string::npos);
  EXPECT_NE(error_of("1\n2.5\n").find("whole ms"), std::string::npos);
  EXPECT_NE(error_of("0\n0\n").find("lasts"), std::string::npos);
  EXPECT_NE(error_of("seconds,mbps\n0,1\n0.5,-1\n").find("line 3: '-1': expected a bandwidth"), std::string::npos)
      << error_of("seconds,mbps\n0,1\n0.5,-1\n");
  EXPECT_NE(error_of("seconds,mbps\n0,1\n0,2\n").find("line 3"), std::string::npos);
  EXPECT_NE(error_of("seconds,mbps\n1,1\n").find("expected 0"), std::string::npos);
  EXPECT_NE(error_of("seconds,mbps\n0,0\n").find("never delivers"), std::string::npos);
  EXPECT_NE(error_of("time,rate\n0,1\n").find("seconds"), std::string::npos);
  EXPECT_NE(error_of("seconds,mbps\n").find("no rows"), std::string::npos);
  EXPECT_NE(error_of("seconds,mbps\n0,inf\n").find("line 2"), std::string::npos);
  EXPECT_THROW(LinkTrace::load("/nonexistent/trace.up"), Error);
}

LatencyEstimator micro_estimator(LinkModel link) {
  return LatencyEstimator(test::micro_space(), HardwareProfile::from_json(test::micro_device_profile(), "device"),
                          HardwareProfile::from_json(test::micro_server_profile(), "server"), link, Encoding::Fp32);
}

TEST(TraceLatency, ConstantTraceEqualsTheConstantLinkModel) {
  LatencyEstimator est = micro_estimator(LinkModel{2.0, 2.0, 5.0, true});
  LinkTrace flat = LinkTrace::from_segments({{3.0, 2.0, 0.0}}, "flat");
  const Arch arch = test::micro_space().parse_arch("k3_e1,skip");
  for (int p = 0; p <= 4; ++p) {
    const std::vector<double> ms = latencies_over_trace(est, arch, p, flat, {100, &flat});
    ASSERT_EQ(ms.size(), 30u);
    for (double v : ms) EXPECT_NEAR(v, est.total_ms(arch, p), 1e-9) << "split " << p;
  }
}

TEST(TraceLatency, EachRequestPaysWhatTheTraceDeliversWhenItsPayloadIsReady) {
  // No delay; the device part of split 2 takes 3 ms, then 256 payload bytes; server 1.296875 ms.
  LatencyEstimator est = micro_estimator(LinkModel{1.0, 1.0, 0.0, false});
  const Arch arch = test::micro_space().parse_arch("k3_e1,skip");
  // 0.512 Mbit/s = 64 bytes per ms for 10 ms, then an outage of 10 ms.
  LinkTrace t = LinkTrace::from_segments({{0.01, 0.512, 0}, {0.01, 0, 0}}, "on-off");
  const std::vector<double> ms = latencies_over_trace(est, arch, 2, t, {5});
  ASSERT_EQ(ms.size(), 4u);  // requests at 0, 5, 10, 15 ms
  EXPECT_NEAR(ms[0], 3 + 4 + 1.296875, 1e-9);            // ready at 3: 4 ms at 64 B/ms
  EXPECT_NEAR(ms[1], 3 + (2 + 10 + 2) + 1.296875, 1e-9);  // ready at 8: 128 B by 10, the outage, 2 ms more
  EXPECT_NEAR(ms[2], 3 + (7 + 4) + 1.296875, 1e-9);       // ready at 13: waits until 20
  EXPECT_NEAR(ms[3], 3 + (2 + 4) + 1.296875, 1e-9);       // ready at 18
  std::vector<double> best(ms.size(), 1e300);
  for (int p = 1; p <= 4; ++p) {
    const std::vector<double> at_p = latencies_over_trace(est, arch, p, t, {5});
    for (size_t i = 0; i < best.size(); ++i) best[i] = std::min(best[i], at_p[i]);
  }
  EXPECT_EQ(oracle_over_trace(est, arch, 1, t, {5}), best);
  EXPECT_LT(best[1], ms[1]);  // the outage makes another split better for that request
  const LatencySummary s = LatencySummary::of(ms, 11.0);
  EXPECT_DOUBLE_EQ(s.share_within, 0.5);
  EXPECT_THROW(latencies_over_trace(est, arch, 2, t, {0}), Error);
}

// A static split priced at a quantile of a trace: each split's uplink is that quantile of its transfer times over
// the request grid (hand-computed on the on-off trace), the rest of the tables unchanged.
TEST(TraceLatency, QuantileEstimatorPricesEachSplitsUplinkAtTheTracesQuantile) {
  LatencyEstimator est = micro_estimator(LinkModel{1.0, 1.0, 0.0, false});
  const Arch arch = test::micro_space().parse_arch("k3_e1,skip");
  LinkTrace t = LinkTrace::from_segments({{0.01, 0.512, 0}, {0.01, 0, 0}}, "on-off");
  // Split 2 sends 256 B: from 0 and 5 ms it takes 4 ms, from 10 the outage and 4 (14), from 15 it waits 5 (9).
  const std::vector<double> top = uplink_quantile_ms(est, t, 1.0, {5}), median = uplink_quantile_ms(est, t, 0.5, {5});
  ASSERT_EQ(top.size(), 5u);
  EXPECT_NEAR(top[2], 14.0, 1e-9);
  EXPECT_NEAR(median[2], 6.5, 1e-9);  // between 4 and 9
  EXPECT_NEAR(uplink_quantile_ms(est, t, 0.0, {5})[2], 4.0, 1e-9);
  EXPECT_EQ(top[4], 0.0) << "the device-only split sends nothing";
  const LatencyEstimator priced = quantile_estimator(est, t, 0.5, {5});
  for (int p = 0; p <= 4; ++p) {
    const LatencyBreakdown b = est.breakdown(arch, p), q = priced.breakdown(arch, p);
    EXPECT_NEAR(q.uplink_ms, median[size_t(p)], 1e-12) << p;
    EXPECT_NEAR(q.total_ms, b.total_ms - b.uplink_ms + median[size_t(p)], 1e-9) << p;
    EXPECT_EQ(q.device_ms, b.device_ms);
    EXPECT_EQ(q.server_ms, b.server_ms);
  }
  // The requests' own median at split 2: their payloads are ready 3 ms after each start, so on this coarse grid they
  // see other phases of the trace (8.30, 18.30, 15.30, 10.30 ms: median 12.80, where the grid's prices 10.80)...
  EXPECT_NEAR(LatencySummary::of(latencies_over_trace(est, arch, 2, t, {5}), 1e9).p50, 12.796875, 1e-9);
  // ...while on a fine grid a shift of the starts only permutes the samples of the looping trace: the same median.
  const TraceRequests fine{0.01};
  EXPECT_NEAR(LatencySummary::of(latencies_over_trace(est, arch, 2, t, fine), 1e9).p50,
              quantile_estimator(est, t, 0.5, fine).total_ms(arch, 2), 1e-6);
  EXPECT_NE(test::error_of([&] { uplink_quantile_ms(est, t, 1.5, {5}); }).find("expected 0 <= q <= 1"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { est.with_uplink_ms({1, 2}); }).find("expected 5"), std::string::npos);
  EXPECT_NE(test::error_of([&] { est.with_uplink_ms({0, 1, -1, 0, 0}); }).find("split 2 = -1"), std::string::npos);
}

}  // namespace
}  // namespace nasc
