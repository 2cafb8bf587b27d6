#include "latency/link.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace nasc {
namespace {

TEST(LinkModel, TransferTimeIsDelayPlusBitsOverBandwidth) {
  LinkModel l;
  l.uplink_mbps = 8;  // 1 MB/s: 1000 bytes take 1 ms
  l.downlink_mbps = 80;
  l.delay_ms = 20;
  EXPECT_DOUBLE_EQ(l.uplink_ms(1000), 21.0);
  EXPECT_DOUBLE_EQ(l.downlink_ms(1000), 20.1);
  EXPECT_EQ(l.uplink_ms(0), 0.0);  // nothing sent: no delay either
  EXPECT_EQ(l.downlink_ms(0), 0.0);
}

TEST(LinkModel, RejectsBadSettings) {
  LinkModel l;
  l.uplink_mbps = 0;
  EXPECT_THROW(l.validate(), Error);
  l = LinkModel{};
  l.delay_ms = -1;
  EXPECT_THROW(l.validate(), Error);
  l = LinkModel{};
  l.downlink_mbps = std::numeric_limits<double>::infinity();
  EXPECT_THROW(l.validate(), Error);
  EXPECT_NO_THROW(LinkModel{}.validate());
}

TEST(LinkModel, JsonRoundTrip) {
  LinkModel l{3.5, 7.0, 12.0, true};
  LinkModel r = LinkModel::from_json(l.to_json(), "test");
  EXPECT_EQ(r.uplink_mbps, 3.5);
  EXPECT_EQ(r.downlink_mbps, 7.0);
  EXPECT_EQ(r.delay_ms, 12.0);
  EXPECT_TRUE(r.return_result);
  EXPECT_EQ(LinkModel::from_json({{"uplink_mbps", 2.0}}, "test").downlink_mbps, 2.0);
}

}  // namespace
}  // namespace nasc
