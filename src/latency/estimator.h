// The end-to-end latency model of ARCHITECTURE.md §3: device blocks + link + server blocks for an (architecture,
// split), its best split, and the oracle (the latency floor of the whole space). Tables are built once, queries
// are O(B).
#pragma once
#include <cstdint>
#include <vector>

#include "latency/link.h"
#include "latency/profile.h"
#include "space/space.h"

namespace nasc {

struct LatencyBreakdown {
  int split = 0;              // p: blocks [0, p) on the device, [p, B) on the server
  int64_t payload_bytes = 0;  // sent up at p
  int64_t result_bytes = 0;   // sent down (class scores) when the server returns the result
  double device_ms = 0, uplink_ms = 0, server_ms = 0, downlink_ms = 0, total_ms = 0;
  json to_json() const;
};

class LatencyEstimator {
 public:
  // Throws naming the first key a profile lacks, or a bad link or encoding (fp32, fp16 or int8).
  LatencyEstimator(const Space& space, const HardwareProfile& device, const HardwareProfile& server, LinkModel link,
                   Encoding encoding);

  LatencyBreakdown breakdown(const Arch& arch, int p) const;
  double total_ms(const Arch& arch, int p) const { return breakdown(arch, p).total_ms; }
  std::vector<LatencyBreakdown> all_splits(const Arch& arch) const;  // p = 0..B

  // Latency-minimal split of `arch` with p >= min_device_blocks (the smallest such p on ties).
  LatencyBreakdown best_split(const Arch& arch, int min_device_blocks = 0) const;

  struct Optimum {
    Arch arch;
    LatencyBreakdown latency;
  };
  // Latency-minimal (architecture, split) over the whole space, p >= min_device_blocks.
  Optimum oracle(int min_device_blocks = 0) const;

  // Milliseconds of block b with op `op` (ignored for stem and head) on each side, and the link time at p.
  double device_block_ms(int b, int op) const { return device_.at(index(b, op)); }
  double server_block_ms(int b, int op) const { return server_.at(index(b, op)); }
  double link_ms(int p) const { return uplink_ms_.at(p) + downlink_ms_.at(p); }
  // Block b with op `op` where split p places it: on the device when b < p, else on the server.
  double block_ms(int b, int op, int p) const { return b < p ? device_block_ms(b, op) : server_block_ms(b, op); }

  // The same tables with each split's uplink time given (ms per split p = 0..B, one-way delay included; 0 where
  // nothing is sent), e.g. a quantile of what a recorded uplink takes (quantile_estimator in trace_latency.h).
  // Throws naming the split of a value that is not finite and >= 0, or a count other than B + 1.
  LatencyEstimator with_uplink_ms(const std::vector<double>& uplink_ms) const;

  const Space& space() const { return space_; }
  const LinkModel& link() const { return link_; }
  Encoding encoding() const { return encoding_; }

 private:
  size_t index(int b, int op) const { return size_t(b) * space_.num_ops() + op; }
  int op_of(const Arch& arch, int b) const;  // the arch's op for a layer block, 0 for stem and head
  void check_min_device_blocks(int m) const;

  Space space_;
  LinkModel link_;
  Encoding encoding_;
  std::vector<double> device_, server_;  // [b * K + op], same value for every op of stem and head
  std::vector<int64_t> payload_bytes_, result_bytes_;  // per split p = 0..B
  std::vector<double> uplink_ms_, downlink_ms_;
};

}  // namespace nasc
