// Helpers shared by the deploy tests: a log that records lines, a raw frame reader, and small servers.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"
#include "deploy/client.h"
#include "deploy/frame_io.h"
#include "deploy/protocol.h"
#include "deploy/server.h"
#include "deploy/socket.h"

namespace nasc::test {

// Collects the server's log lines so tests can check that a refusal was logged.
class LogSink {
 public:
  std::function<void(const std::string&)> fn() {
    return [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.push_back(line);
    };
  }
  bool contains(const std::string& part) const {
    std::lock_guard<std::mutex> lock(mu_);
    return std::any_of(lines_.begin(), lines_.end(),
                       [&](const std::string& l) { return l.find(part) != std::string::npos; });
  }
  std::vector<std::string> lines() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

// The tail these tests plug in: scores = {sum of the decoded payload, element count}.
inline Response sum_handler(const Request& r) {
  std::vector<float> v = decode_floats(r.payload);
  float sum = 0;
  for (float x : v) sum += x;
  return Response{{sum, float(v.size())}};
}

// The message of the Error `f` throws, or "" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline WireTensor good_payload(WireEncoding enc = WireEncoding::Fp32) {
  std::vector<float> v(2 * 4 * 4, 0.5f);
  return encode_floats(v, {2, 4, 4}, enc);
}

inline ServerOptions test_server_options(LogSink& log) {
  ServerOptions o;
  o.port = 0;
  o.io_timeout_ms = 400;
  o.idle_timeout_ms = 5000;
  o.workers = 2;
  o.max_body_bytes = 1 << 16;
  o.input = InputSpec::any_split({2, 4, 4}, {WireEncoding::Fp32, WireEncoding::Fp16, WireEncoding::Int8});
  o.log = log.fn();
  return o;
}

inline ClientOptions test_client_options(uint16_t port) {
  ClientOptions o;
  o.port = port;
  o.connect_timeout_ms = 1000;
  o.request_timeout_ms = 2000;
  o.max_attempts = 1;
  return o;
}

// Reads one frame from a raw socket; the status tells why there was none (Truncated on EOF/timeout).
inline FrameStatus read_frame(Socket& s, int timeout_ms, Frame& out) {
  FrameRead r = nasc::read_frame(s, FrameLimits{}, deadline_in_ms(timeout_ms), out);
  if (!r.arrived()) return FrameStatus::fail(ErrorCode::Truncated, cat("no frame: ", r.reason("frame", kHeaderBytes)));
  return r.status;
}

// True when the peer closes within the timeout (after anything it still had to send).
inline bool closed_by_peer(Socket& s, int timeout_ms) {
  Deadline d = deadline_in_ms(timeout_ms);
  uint8_t buf[256];
  for (;;) {
    size_t got = 0;
    IoResult r = s.recv_exact(buf, sizeof buf, d, &got);
    if (r == IoResult::Closed) return true;
    if (r != IoResult::Ok) return false;
  }
}

inline void expect_serves(uint16_t port) {
  FrameClient c(test_client_options(port));
  Reply r = c.infer(good_payload(), 0);
  ASSERT_EQ(r.scores.size(), 2u);
  EXPECT_FLOAT_EQ(r.scores[0], 16.f);
  EXPECT_FLOAT_EQ(r.scores[1], 32.f);
}

}  // namespace nasc::test
