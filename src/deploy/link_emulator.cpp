#include "deploy/link_emulator.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "common/error.h"

namespace nasc {
namespace {

double bytes_per_s(double mbps) { return mbps * 1e6 / 8.0; }

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

double LinkOptions::model_ms(size_t bytes, bool up) const {
  double mbps = up ? up_mbps : down_mbps;
  return delay_ms + (mbps > 0 ? 8.0 * double(bytes) / (mbps * 1e3) : 0.0);
}

TokenBucket::TokenBucket(double rate, double burst)
    : rate_(rate), burst_(std::max(burst, 1.0)), tokens_(burst_), last_(Clock::now()) {}

Clock::time_point TokenBucket::reserve(size_t bytes, Clock::time_point now) {
  if (rate_ <= 0) return now;
  if (now > last_) {
    tokens_ = std::min(burst_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
    last_ = now;
  }
  tokens_ -= double(bytes);
  if (tokens_ >= 0) return now;
  return last_ + seconds(-tokens_ / rate_);
}

void TokenBucket::refund(size_t bytes) { tokens_ = std::min(burst_, tokens_ + double(bytes)); }

LinkEmulator::LinkEmulator(LinkOptions opts)
    : opts_(opts), up_(bytes_per_s(std::max(opts.up_mbps, 0.0)), double(opts.burst_bytes)) {
  if (!(opts.up_mbps >= 0) || !(opts.down_mbps >= 0) || !(opts.delay_ms >= 0) || !std::isfinite(opts.up_mbps) ||
      !std::isfinite(opts.down_mbps) || !std::isfinite(opts.delay_ms))
    fail("link of ", opts.up_mbps, "/", opts.down_mbps, " Mbit/s and ", opts.delay_ms,
         " ms: expected finite bandwidths and delay >= 0");
  // Slices of at least 2 ms of traffic keep the sleep granularity (~0.1 ms) small against the pacing.
  slice_ = std::max<size_t>(std::max<size_t>(opts.burst_bytes, 1),
                            size_t(bytes_per_s(opts.up_mbps) * 0.002));
  origin_ = trace_free_at_ = Clock::now();
}

double LinkEmulator::trace_clock_ms() const {
  return std::chrono::duration<double, std::milli>(std::max(Clock::now(), trace_free_at_) - origin_).count();
}

IoResult LinkEmulator::send_over_trace(Socket& s, const void* data, size_t size, Deadline deadline) {
  // The whole message is held until its last byte would have arrived, then written at once: loopback adds
  // microseconds, and the receiver sees it complete when the trace says.
  const Clock::time_point start = std::max(Clock::now(), trace_free_at_);
  const double t_ms = std::chrono::duration<double, std::milli>(start - origin_).count();
  const Clock::time_point delivered = start + seconds(opts_.up_trace->transfer_ms(int64_t(size), t_ms) / 1e3);
  trace_free_at_ = delivered;
  const Clock::time_point until = delivered + seconds(opts_.delay_ms / 1e3);
  if (until > deadline) {
    std::this_thread::sleep_until(deadline);
    return IoResult::Timeout;
  }
  std::this_thread::sleep_until(until);
  return s.send_all(data, size, deadline);
}

IoResult LinkEmulator::send(Socket& s, const void* data, size_t size, Deadline deadline) {
  if (!opts_.shapes_up()) return s.send_all(data, size, deadline);
  if (opts_.up_trace) return send_over_trace(s, data, size, deadline);
  if (opts_.delay_ms > 0) {
    Clock::time_point until = Clock::now() + seconds(opts_.delay_ms / 1e3);
    std::this_thread::sleep_until(std::min(until, deadline));
    if (until > deadline) return IoResult::Timeout;
  }
  if (opts_.up_mbps <= 0) return s.send_all(data, size, deadline);
  // The bucket is charged for the whole message at once; its last byte may leave at `done`, and byte k at
  // done - (size - k) / rate. What may leave is computed from the clock on every wake-up, so a late wake-up
  // (a busy machine) is caught up at once instead of adding to the transfer time.
  const double rate = bytes_per_s(opts_.up_mbps);
  const Clock::time_point done = up_.reserve(size, Clock::now());
  const char* p = static_cast<const char*>(data);
  size_t sent = 0;
  while (sent < size) {
    double left_s = std::chrono::duration<double>(done - Clock::now()).count();
    size_t held = left_s <= 0 ? 0 : size_t(std::min(double(size), std::floor(left_s * rate)));
    size_t allowed = size - held;
    size_t next = std::min(size, sent + slice_);
    if (allowed >= next) {
      IoResult r = s.send_all(p + sent, allowed - sent, deadline);
      if (r != IoResult::Ok) {
        up_.refund(size - sent);
        return r;
      }
      sent = allowed;
      continue;
    }
    Clock::time_point at = done - seconds(double(size - next) / rate);
    if (at > deadline) {
      std::this_thread::sleep_until(deadline);
      up_.refund(size - sent);
      return IoResult::Timeout;
    }
    std::this_thread::sleep_until(at);
  }
  return IoResult::Ok;
}

void LinkEmulator::hold_received(size_t bytes, Clock::time_point first_byte, Deadline deadline) const {
  if (!opts_.shapes_down()) return;
  Clock::time_point until = first_byte + seconds(opts_.model_ms(bytes, /*up=*/false) / 1e3);
  std::this_thread::sleep_until(std::min(until, deadline));
}

}  // namespace nasc
