#include "latency/estimator.h"

#include <cmath>

#include "common/error.h"

namespace nasc {

json LatencyBreakdown::to_json() const {
  return {{"split", split},         {"payload_bytes", payload_bytes}, {"result_bytes", result_bytes},
          {"device_ms", device_ms}, {"uplink_ms", uplink_ms},         {"server_ms", server_ms},
          {"downlink_ms", downlink_ms}, {"total_ms", total_ms}};
}

LatencyEstimator::LatencyEstimator(const Space& space, const HardwareProfile& device, const HardwareProfile& server,
                                   LinkModel link, Encoding encoding)
    : space_(space), link_(link), encoding_(encoding) {
  link_.validate();
  if (encoding_ == Encoding::Raw)
    fail("payload encoding raw-uint8 applies to the input only: expected fp32, fp16 or int8 for activations");
  device.require(space_);
  server.require(space_);
  const int B = space_.num_blocks(), K = space_.num_ops();
  device_.assign(size_t(B) * K, 0);
  server_.assign(size_t(B) * K, 0);
  for (int b = 0; b < B; ++b)
    for (int o = 0; o < K; ++o)
      for (auto& key : space_.block_keys(b, o)) {
        device_[index(b, o)] += device.ms(key);
        server_[index(b, o)] += server.ms(key);
      }
  const int64_t scores = int64_t(space_.num_classes()) * 4;  // fp32 class scores
  for (int p = 0; p <= B; ++p) {
    payload_bytes_.push_back(space_.payload_bytes(p, encoding_));
    result_bytes_.push_back(link_.return_result && p < B ? scores : 0);
    uplink_ms_.push_back(link_.uplink_ms(payload_bytes_.back()));
    downlink_ms_.push_back(link_.downlink_ms(result_bytes_.back()));
  }
}

LatencyEstimator LatencyEstimator::with_uplink_ms(const std::vector<double>& uplink_ms) const {
  const int B = space_.num_blocks();
  if (int(uplink_ms.size()) != B + 1)
    fail("uplink times for ", uplink_ms.size(), " splits: expected ", B + 1, " (p = 0..", B, ")");
  for (int p = 0; p <= B; ++p)
    if (!std::isfinite(uplink_ms[p]) || uplink_ms[p] < 0)
      fail("uplink time at split ", p, " = ", uplink_ms[p], " ms: expected a finite value >= 0");
  LatencyEstimator e = *this;
  e.uplink_ms_ = uplink_ms;
  return e;
}

int LatencyEstimator::op_of(const Arch& arch, int b) const {
  const BlockGeom& g = space_.block(b);
  return g.kind == BlockKind::Layer ? arch[g.layer] : 0;
}

void LatencyEstimator::check_min_device_blocks(int m) const {
  if (m < 0 || m > space_.num_blocks())
    fail("min_device_blocks = ", m, " out of range: expected 0..", space_.num_blocks(), " (blocks of space ",
         space_.name(), ")");
}

// Device time is summed upwards from block 0 and server time downwards from block B-1, here and in
// best_split/oracle alike, so that all of them report bit-identical numbers for the same (arch, p).
LatencyBreakdown LatencyEstimator::breakdown(const Arch& arch, int p) const {
  space_.check_arch(arch);
  const int B = space_.num_blocks();
  if (p < 0 || p > B) fail("split index ", p, " out of range: expected 0..", B);
  LatencyBreakdown r;
  r.split = p;
  for (int b = 0; b < p; ++b) r.device_ms += device_[index(b, op_of(arch, b))];
  for (int b = B - 1; b >= p; --b) r.server_ms += server_[index(b, op_of(arch, b))];
  r.payload_bytes = payload_bytes_[p];
  r.result_bytes = result_bytes_[p];
  r.uplink_ms = uplink_ms_[p];
  r.downlink_ms = downlink_ms_[p];
  r.total_ms = r.device_ms + r.uplink_ms + r.server_ms + r.downlink_ms;
  return r;
}

std::vector<LatencyBreakdown> LatencyEstimator::all_splits(const Arch& arch) const {
  std::vector<LatencyBreakdown> rows;
  for (int p = 0; p <= space_.num_blocks(); ++p) rows.push_back(breakdown(arch, p));
  return rows;
}

LatencyBreakdown LatencyEstimator::best_split(const Arch& arch, int min_device_blocks) const {
  space_.check_arch(arch);
  check_min_device_blocks(min_device_blocks);
  const int B = space_.num_blocks();
  // dev[p] = device time of blocks [0, p), srv[p] = server time of blocks [p, B): one pass each, then a scan.
  std::vector<double> dev(B + 1, 0.0), srv(B + 1, 0.0);
  for (int b = 0; b < B; ++b) dev[b + 1] = dev[b] + device_[index(b, op_of(arch, b))];
  for (int b = B - 1; b >= 0; --b) srv[b] = srv[b + 1] + server_[index(b, op_of(arch, b))];
  int best = min_device_blocks;
  double best_total = 0;
  for (int p = min_device_blocks; p <= B; ++p) {
    double total = dev[p] + uplink_ms_[p] + srv[p] + downlink_ms_[p];
    if (p == min_device_blocks || total < best_total) best = p, best_total = total;
  }
  return breakdown(arch, best);
}

// Why the floor separates: ops never change tensor shapes (space.h: shapes follow from the geometry alone), so
// the payload at p, and with it the link time, depends on p only. For a fixed p, T(a, p) = sum_{b<p} dev_b(a_b)
// + link(p) + sum_{b>=p} srv_b(a_b) is a sum of terms each holding one layer's op, so it is minimised layer by
// layer: device-cheapest op before p, server-cheapest op from p on. Prefix sums of the per-block device minima
// and suffix sums of the server minima give every p's floor: O(L*K + B) in all.
LatencyEstimator::Optimum LatencyEstimator::oracle(int min_device_blocks) const {
  check_min_device_blocks(min_device_blocks);
  const int B = space_.num_blocks(), K = space_.num_ops();
  std::vector<int> dev_op(B, 0), srv_op(B, 0);  // cheapest op per block on each side (lowest index on ties)
  for (int b = 0; b < B; ++b)
    for (int o = 1; o < K; ++o) {
      if (device_[index(b, o)] < device_[index(b, dev_op[b])]) dev_op[b] = o;
      if (server_[index(b, o)] < server_[index(b, srv_op[b])]) srv_op[b] = o;
    }
  std::vector<double> dev(B + 1, 0.0), srv(B + 1, 0.0);
  for (int b = 0; b < B; ++b) dev[b + 1] = dev[b] + device_[index(b, dev_op[b])];
  for (int b = B - 1; b >= 0; --b) srv[b] = srv[b + 1] + server_[index(b, srv_op[b])];
  int best = min_device_blocks;
  double best_total = 0;
  for (int p = min_device_blocks; p <= B; ++p) {
    double total = dev[p] + uplink_ms_[p] + srv[p] + downlink_ms_[p];
    if (p == min_device_blocks || total < best_total) best = p, best_total = total;
  }
  Optimum opt;
  opt.arch.resize(space_.num_layers());
  for (int l = 0; l < space_.num_layers(); ++l) opt.arch[l] = l + 1 < best ? dev_op[l + 1] : srv_op[l + 1];
  opt.latency = breakdown(opt.arch, best);
  return opt;
}

}  // namespace nasc
