// Emulated IoT link on the client: a token bucket at the link's bandwidth plus its one-way delay, so that a
// transfer over loopback takes what ARCHITECTURE.md §3 models, T_link(bytes) = delay + 8 * bytes / bandwidth; or an
// uplink that follows a recorded trace.
#pragma once
#include <cstddef>
#include <memory>

#include "deploy/socket.h"
#include "latency/link_trace.h"

namespace nasc {

struct LinkOptions {
  double up_mbps = 0;    // uplink bandwidth in Mbit/s; 0 = unshaped
  double down_mbps = 0;  // downlink bandwidth in Mbit/s; 0 = unshaped
  double delay_ms = 0;   // one-way delay, both directions
  // Bucket depth. 1: every byte is paced, so a message takes the model's delay + 8 * bytes / bandwidth even when
  // the link was idle (a deeper bucket would let a small payload leave at once and beat the model).
  size_t burst_bytes = 1;
  // An uplink that varies instead of up_mbps: a message leaves when the trace would have delivered it, counted
  // from the emulator's creation (the trace loops); messages queue behind each other as on a real link.
  std::shared_ptr<const LinkTrace> up_trace;

  bool shapes_up() const { return up_mbps > 0 || delay_ms > 0 || up_trace; }
  bool shapes_down() const { return down_mbps > 0 || delay_ms > 0; }
  // The model's transfer time in ms (delay + 8 * bytes / bandwidth; delay only when unshaped).
  double model_ms(size_t bytes, bool up) const;
};

// Tokens are bytes; they accrue at `bytes_per_s` up to `burst`. A reservation may drive the balance negative,
// and the caller waits until the returned time, so that oversleeping is paid back from later tokens.
class TokenBucket {
 public:
  TokenBucket(double bytes_per_s, double burst);
  Clock::time_point reserve(size_t bytes, Clock::time_point now);
  void refund(size_t bytes);  // for reserved bytes that were never sent

 private:
  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

class LinkEmulator {
 public:
  explicit LinkEmulator(LinkOptions opts);
  const LinkOptions& options() const { return opts_; }
  // Where the uplink trace stands now, in ms from its start (it loops): what an oracle knowing it would look at.
  double trace_clock_ms() const;

  // Socket::send_all through the uplink: waits the one-way delay, then sends in slices paced by the bucket
  // (the whole message is charged at once, so late wake-ups on a busy machine are caught up, not added).
  IoResult send(Socket& s, const void* data, size_t size, Deadline deadline);
  // Downlink: holds a message of `bytes` whose first byte arrived at `first_byte` until it would have arrived
  // over the emulated link (never past the deadline).
  void hold_received(size_t bytes, Clock::time_point first_byte, Deadline deadline) const;

 private:
  IoResult send_over_trace(Socket& s, const void* data, size_t size, Deadline deadline);

  LinkOptions opts_;
  TokenBucket up_;
  size_t slice_;
  Clock::time_point origin_, trace_free_at_;
};

}  // namespace nasc
