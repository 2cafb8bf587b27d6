#include "latency/estimator.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <set>

#include "common/error.h"
#include "latency_fixtures.h"

namespace nasc {
namespace {

LatencyEstimator micro_estimator(LinkModel link, Encoding enc) {
  return LatencyEstimator(test::micro_space(), HardwareProfile::from_json(test::micro_device_profile(), "device"),
                          HardwareProfile::from_json(test::micro_server_profile(), "server"), link, enc);
}

TEST(LatencyEstimator, EqualsHandComputedSum) {
  LinkModel link{1.0, 2.0, 5.0, true};
  LatencyEstimator est = micro_estimator(link, Encoding::Fp32);
  Space s = test::micro_space();
  Arch arch = s.parse_arch("k3_e1,skip");
  LatencyBreakdown r = est.breakdown(arch, 2);  // stem + layer0 on the device, layer1 + head on the server
  EXPECT_EQ(r.device_ms, 1.0 + 2.0);
  EXPECT_EQ(r.server_ms, 0.25 + (1.0 + 0.03125 + 0.015625));
  EXPECT_EQ(r.payload_bytes, 4 * 4 * 4 * 4);      // 4x4x4 fp32
  EXPECT_DOUBLE_EQ(r.uplink_ms, 5.0 + 8.0 * 256 / 1000.0);
  EXPECT_EQ(r.result_bytes, 2 * 4);                // 2 fp32 class scores
  EXPECT_DOUBLE_EQ(r.downlink_ms, 5.0 + 8.0 * 8 / 2000.0);
  EXPECT_DOUBLE_EQ(r.total_ms, 3.0 + 7.048 + 1.296875 + 5.032);
  EXPECT_EQ(est.total_ms(arch, 2), r.total_ms);

  LatencyBreakdown dev_only = est.breakdown(arch, 4);
  EXPECT_EQ(dev_only.device_ms, 1.0 + 2.0 + 1.5 + 8.0 + 0.25 + 0.125);
  EXPECT_EQ(dev_only.server_ms, 0.0);
  EXPECT_EQ(dev_only.uplink_ms + dev_only.downlink_ms, 0.0);
  EXPECT_EQ(dev_only.total_ms, dev_only.device_ms);
}

TEST(LatencyEstimator, PayloadBytesPerEncoding) {
  LinkModel link{8.0, 8.0, 1.0, false};
  for (Encoding enc : {Encoding::Fp32, Encoding::Fp16, Encoding::Int8}) {
    LatencyEstimator est = micro_estimator(link, enc);
    Arch arch = {0, 0};
    LatencyBreakdown in = est.breakdown(arch, 0);
    EXPECT_EQ(in.payload_bytes, 16) << encoding_name(enc);  // raw uint8 input 1x4x4, whatever the encoding
    EXPECT_DOUBLE_EQ(in.uplink_ms, 1.0 + 16 / 1000.0);
    EXPECT_EQ(in.device_ms, 0.0);
    EXPECT_EQ(in.downlink_ms, 0.0);  // return_result off
    LatencyBreakdown mid = est.breakdown(arch, 3);  // 8x2x2 after layer1
    EXPECT_EQ(mid.payload_bytes, 32 * encoding_bytes(enc)) << encoding_name(enc);
    LatencyBreakdown end = est.breakdown(arch, 4);
    EXPECT_EQ(end.payload_bytes, 0);
    EXPECT_EQ(end.uplink_ms, 0.0);
  }
  EXPECT_THROW(micro_estimator(link, Encoding::Raw), Error);
}

TEST(LatencyEstimator, RejectsBadQueriesAndMissingKeys) {
  LatencyEstimator est = micro_estimator(LinkModel{}, Encoding::Fp32);
  EXPECT_THROW(est.breakdown({0, 0}, 5), Error);
  EXPECT_THROW(est.breakdown({0, 0}, -1), Error);
  EXPECT_THROW(est.breakdown({0, 2}, 1), Error);
  EXPECT_THROW(est.breakdown({0}, 1), Error);
  EXPECT_THROW(est.best_split({0, 0}, 5), Error);
  EXPECT_THROW(est.oracle(-1), Error);

  json lacking = test::micro_server_profile();
  lacking["latency_ms"].erase("AvgP_H2_W2_Cin16_Cout16_kernel2_stride1");
  try {
    LatencyEstimator(test::micro_space(), HardwareProfile::from_json(test::micro_device_profile(), "dev.json"),
                     HardwareProfile::from_json(lacking, "srv.json"), LinkModel{}, Encoding::Fp32);
    FAIL() << "expected an error for the missing key";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("AvgP_H2_W2_Cin16_Cout16_kernel2_stride1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("srv.json"), std::string::npos) << msg;
  }
}

// Brute force over the whole `tiny` space (9^7 architectures x 10 splits), with costs taken from the profiles
// and the link formula directly rather than from the estimator's tables.
class TinyBruteForce : public testing::Test {
 protected:
  Space space{SpaceConfig::preset("tiny")};
  HardwareProfile device = test::random_profile(space, 1, 0.05, 1.0);
  HardwareProfile server = test::random_profile(space, 2, 0.005, 0.1);
  int B = space.num_blocks(), K = space.num_ops(), L = space.num_layers();

  double block_ms(const HardwareProfile& prof, int b, int op) const {
    double ms = 0;
    for (auto& k : space.block_keys(b, op)) ms += prof.ms(k);
    return ms;
  }
  double link_ms(const LinkModel& link, Encoding enc, int p) const {
    if (p == B) return 0;
    Shape s = space.boundary_shape(p);
    double bytes = double(s.c) * s.h * s.w * (p == 0 ? 1 : encoding_bytes(enc));
    double ms = link.delay_ms + bytes * 8 / (link.uplink_mbps * 1e3);
    if (link.return_result) ms += link.delay_ms + space.num_classes() * 4 * 8 / (link.downlink_mbps * 1e3);
    return ms;
  }

  // best[m] = min over archs and splits p >= m of the latency, for every m in 0..B at once.
  std::vector<double> brute_force(const LinkModel& link, Encoding enc) const {
    std::vector<double> dev(B * K), srv(B * K), lk(B + 1);
    for (int b = 0; b < B; ++b)
      for (int o = 0; o < K; ++o) dev[b * K + o] = block_ms(device, b, o), srv[b * K + o] = block_ms(server, b, o);
    for (int p = 0; p <= B; ++p) lk[p] = link_ms(link, enc, p);
    std::vector<double> best(B + 1, std::numeric_limits<double>::infinity()), t(B + 1);
    Arch a(L, 0);
    while (true) {
      double d = 0, s = 0;
      for (int b = 0; b < B; ++b) s += srv[b * K + (b >= 1 && b <= L ? a[b - 1] : 0)];
      for (int p = 0; p <= B; ++p) {
        t[p] = d + s + lk[p];
        if (p < B) {
          int o = p >= 1 && p <= L ? a[p - 1] : 0;
          d += dev[p * K + o];
          s -= srv[p * K + o];
        }
      }
      double run = std::numeric_limits<double>::infinity();
      for (int m = B; m >= 0; --m) best[m] = std::min(best[m], run = std::min(run, t[m]));
      int l = 0;  // odometer over architectures
      while (l < L && ++a[l] == K) a[l++] = 0;
      if (l == L) break;
    }
    return best;
  }
};

TEST_F(TinyBruteForce, OracleEqualsEnumerationOfTheWholeSpace) {
  std::vector<std::pair<LinkModel, Encoding>> settings = {
      {{10.0, 10.0, 1.0, false}, Encoding::Fp32},  // slow link: raw input or device-only tends to win
      {{100.0, 50.0, 0.2, true}, Encoding::Int8},
      {{1000.0, 1000.0, 0.0, false}, Encoding::Fp16},  // fast link: the server does the work
  };
  std::set<int> splits_seen;
  for (auto& [link, enc] : settings) {
    LatencyEstimator est(space, device, server, link, enc);
    std::vector<double> best = brute_force(link, enc);
    for (int m : {0, 1, 3, B - 1, B}) {
      LatencyEstimator::Optimum opt = est.oracle(m);
      EXPECT_NEAR(opt.latency.total_ms, best[m], 1e-9) << "min_device_blocks " << m;
      EXPECT_GE(opt.latency.split, m);
      EXPECT_EQ(est.breakdown(opt.arch, opt.latency.split).total_ms, opt.latency.total_ms);
      splits_seen.insert(opt.latency.split);
    }
  }
  EXPECT_GE(splits_seen.size(), 3u) << "the settings should exercise different optimal splits";
}

TEST_F(TinyBruteForce, BestSplitEqualsScanOverEverySplit) {
  LinkModel link{50.0, 50.0, 0.5, true};
  LatencyEstimator est(space, device, server, link, Encoding::Int8);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> op(0, K - 1);
  std::set<int> splits_seen;
  for (int i = 0; i < 2000; ++i) {
    Arch a(L);
    for (int& o : a) o = op(rng);
    for (int m : {0, 2, B}) {
      double best = std::numeric_limits<double>::infinity();
      for (int p = m; p <= B; ++p) {
        double t = 0;
        for (int b = 0; b < B; ++b) {
          int o = b >= 1 && b <= L ? a[b - 1] : 0;
          t += b < p ? block_ms(device, b, o) : block_ms(server, b, o);
        }
        best = std::min(best, t + link_ms(link, Encoding::Int8, p));
      }
      LatencyBreakdown r = est.best_split(a, m);
      ASSERT_NEAR(r.total_ms, best, 1e-9) << space.format_arch(a) << " m=" << m;
      ASSERT_GE(r.split, m);
      splits_seen.insert(r.split);
    }
  }
  EXPECT_GE(splits_seen.size(), 3u);
}

}  // namespace
}  // namespace nasc
