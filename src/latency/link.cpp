#include "latency/link.h"

#include <cmath>

#include "common/error.h"

namespace nasc {

void LinkModel::validate() const {
  auto bandwidth = [](double v, const char* name) {
    if (!std::isfinite(v) || v <= 0) fail("link ", name, " = ", v, " Mbit/s: expected a finite bandwidth > 0");
  };
  bandwidth(uplink_mbps, "uplink");
  bandwidth(downlink_mbps, "downlink");
  if (!std::isfinite(delay_ms) || delay_ms < 0) fail("link delay = ", delay_ms, " ms: expected a finite value >= 0");
}

double LinkModel::transfer_ms(int64_t bytes, double mbps) const {
  if (bytes <= 0) return 0;
  return delay_ms + 8.0 * double(bytes) / (mbps * 1e3);  // 8*bytes/(mbps*1e6) s = 8*bytes/(mbps*1e3) ms
}

json LinkModel::to_json() const {
  return {{"uplink_mbps", uplink_mbps},
          {"downlink_mbps", downlink_mbps},
          {"delay_ms", delay_ms},
          {"return_result", return_result}};
}

LinkModel LinkModel::from_json(const json& j, const std::string& ctx) {
  LinkModel l;
  l.uplink_mbps = json_get<double>(j, "uplink_mbps", ctx);
  l.downlink_mbps = json_get_or<double>(j, "downlink_mbps", l.uplink_mbps, ctx);
  l.delay_ms = json_get_or<double>(j, "delay_ms", 0.0, ctx);
  l.return_result = json_get_or<bool>(j, "return_result", false, ctx);
  l.validate();
  return l;
}

}  // namespace nasc
