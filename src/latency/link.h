// The network link between device and server (ARCHITECTURE.md §3): bandwidth each way and a one-way delay, so that
// T_link(bytes) = delay + 8 * bytes / bandwidth, and nothing at all when nothing is sent.
#pragma once
#include <cstdint>

#include "common/json_io.h"

namespace nasc {

struct LinkModel {
  double uplink_mbps = 10;    // device -> server, Mbit/s (10^6 bit/s)
  double downlink_mbps = 10;  // server -> device
  double delay_ms = 0;        // one way, added to every transfer
  bool return_result = false;  // the server sends the class scores back to the device

  // Throws naming the field when a bandwidth is not finite and > 0 or the delay not finite and >= 0.
  void validate() const;

  double uplink_ms(int64_t bytes) const { return transfer_ms(bytes, uplink_mbps); }
  double downlink_ms(int64_t bytes) const { return transfer_ms(bytes, downlink_mbps); }
  // delay + bytes / (mbps * 1e6 / 8) seconds, in ms; 0 for 0 bytes (no message, so no delay either).
  double transfer_ms(int64_t bytes, double mbps) const;

  json to_json() const;
  static LinkModel from_json(const json& j, const std::string& context);
};

}  // namespace nasc
