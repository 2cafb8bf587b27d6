#include "deploy/client.h"

#include <algorithm>
#include <thread>

#include "common/error.h"
#include "deploy/frame_io.h"

namespace nasc {
namespace {

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

int64_t ms_left(Deadline d) {
  return std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(d - Clock::now()).count());
}

// A try that failed in a way another try may fix (the connection went away, or the server asked to retry).
struct Retry {
  std::string cause;
};

}  // namespace

FrameClient::FrameClient(ClientOptions opts) : opts_(std::move(opts)), link_(opts_.link) {
  if (opts_.port == 0) fail("client needs the server's port: expected 1..65535");
  if (opts_.connect_timeout_ms < 1 || opts_.request_timeout_ms < 1)
    fail("client timeouts ", opts_.connect_timeout_ms, "/", opts_.request_timeout_ms, " ms: expected >= 1 ms");
  if (opts_.max_attempts < 0)
    fail("max_attempts ", opts_.max_attempts, ": expected >= 1, or 0 for as many as the deadline allows");
  if (opts_.backoff_initial_ms < 0 || opts_.backoff_max_ms < opts_.backoff_initial_ms)
    fail("back-off ", opts_.backoff_initial_ms, "..", opts_.backoff_max_ms, " ms: expected 0 <= initial <= max");
  if (opts_.tls && opts_.tls->role() != TlsRole::Client) fail("frame client needs a client TLS context");
  require_tls_beyond_loopback(opts_);
}

void require_tls_beyond_loopback(const ClientOptions& opts) {
  if (!opts.tls && !opts.insecure && !is_loopback_host(opts.host))
    fail("server '", opts.host, "' is not a loopback address and the link has no TLS: give this device's "
         "certificate (--tls DIR, made by scripts/make-certs.sh), or --insecure to send payloads in clear");
}

void FrameClient::connect(Deadline deadline, const std::string& what) {
  const int64_t left = ms_left(deadline);
  try {
    sock_ = Socket::connect(opts_.host, opts_.port, int(std::min<int64_t>(opts_.connect_timeout_ms, left)));
  } catch (const Error& e) {
    throw Retry{e.what()};
  }
  if (!opts_.tls) return;
  const TlsHandshake hs =
      opts_.tls->handshake(sock_, opts_.host, std::min(deadline, deadline_in_ms(opts_.connect_timeout_ms)));
  if (hs.ok) {
    server_identity_ = hs.peer_name;
    return;
  }
  sock_.close();
  if (hs.retryable) throw Retry{hs.error};
  fail(what, ": ", hs.error);  // a certificate refused on either side: another try would be refused the same way
}

std::string FrameClient::where() const { return cat(opts_.host, ":", opts_.port); }

Frame FrameClient::exchange(const Frame& request, MsgType expected, Reply& timing) {
  const Clock::time_point t0 = Clock::now();
  const Deadline deadline = t0 + std::chrono::milliseconds(opts_.request_timeout_ms);
  const std::vector<uint8_t> bytes = encode_frame(request);
  const std::string what = cat(msg_type_name(request.type), " ", request.request_id, " to ", where());

  std::string first_cause, last_cause;
  int backoff = opts_.backoff_initial_ms;
  for (int attempt = 1;; ++attempt) {
    timing.attempts = attempt;
    try {
      Frame f = attempt_exchange(bytes, request.request_id, expected, deadline, what, timing);
      timing.total_ms = ms_between(t0, Clock::now());
      return f;
    } catch (const Retry& r) {
      sock_.close();
      if (first_cause.empty()) first_cause = r.cause;
      last_cause = r.cause;
    }
    if ((opts_.max_attempts > 0 && attempt >= opts_.max_attempts) || ms_left(deadline) <= backoff)
      fail(what, " failed after ", attempt, attempt == 1 ? " try" : " tries", " in ",
           int64_t(ms_between(t0, Clock::now())), " ms: ", last_cause,
           first_cause != last_cause ? cat(" (first: ", first_cause, ")") : std::string());
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
    backoff = std::min(opts_.backoff_max_ms, std::max(1, backoff * 2));
  }
}

// One try, in the order it happens on the wire: connect, send, read the reply, judge it.
Frame FrameClient::attempt_exchange(const std::vector<uint8_t>& bytes, uint64_t id, MsgType expected,
                                    Deadline deadline, const std::string& what, Reply& timing) {
  auto timed_out = [&]() -> Error {
    sock_.close();
    return Error(cat(what, ": no reply within ", opts_.request_timeout_ms, " ms"));
  };
  // TLS 1.3 lets the client finish its handshake before the server has checked the device's certificate, so
  // the server's refusal arrives as an alert on the first read or write.
  auto refused_by_tls = [&]() -> Error {
    const std::string why = sock_.last_error();
    sock_.close();
    return Error(cat(what, ": the server refused the TLS session: ", why));
  };
  if (!sock_.valid()) {
    if (ms_left(deadline) < 1) throw timed_out();
    connect(deadline, what);
  }
  Clock::time_point sent = Clock::now();
  IoResult r = link_.send(sock_, bytes.data(), bytes.size(), deadline);
  if (r == IoResult::Timeout) throw timed_out();
  if (sock_.tls_failed()) throw refused_by_tls();
  if (r != IoResult::Ok) throw Retry{cat("connection lost while sending (", io_result_name(r), ")")};
  timing.uplink_ms = ms_between(sent, Clock::now());

  r = sock_.wait_readable(deadline);
  if (r == IoResult::Timeout) throw timed_out();
  Clock::time_point first_byte = Clock::now();
  FrameHeader h;
  FrameRead got = read_header(sock_, FrameLimits{opts_.max_body_bytes}, deadline, h);
  const bool header_arrived = got.ok();
  std::vector<uint8_t> body;
  if (header_arrived) got = read_body(sock_, h, deadline, body);
  if (got.io == IoResult::Timeout) throw timed_out();
  if (sock_.tls_failed()) throw refused_by_tls();
  if (!got.arrived()) {
    if (!header_arrived && got.got == 0) throw Retry{"server closed the connection before replying"};
    throw Retry{header_arrived ? got.reason("reply body", h.body_len) : got.reason("reply header", kHeaderBytes)};
  }
  if (!got.status.ok()) {
    sock_.close();
    fail(what, ": malformed reply: ", got.status.message);
  }
  link_.hold_received(kHeaderBytes + body.size(), first_byte, deadline);
  timing.round_trip_ms = ms_between(sent, Clock::now());
  timing.request_bytes = bytes.size();
  timing.reply_bytes = kHeaderBytes + body.size();
  Frame f = frame_from(h, std::move(body));

  if (f.type == MsgType::Error) {
    auto code = ErrorCode(f.status);
    std::string msg = decode_text(f.tensor);
    if (code == ErrorCode::Overloaded || code == ErrorCode::ShuttingDown)
      throw Retry{cat("server ", error_code_name(code), ": ", msg)};
    // A failing handler and a non-finite payload leave the connection open (the frame itself was sound);
    // after any other error the server closes it.
    if (code != ErrorCode::HandlerFailed && code != ErrorCode::NonFinite) sock_.close();
    fail(what, " refused: ", error_code_name(code), ": ", msg);
  }
  if (f.request_id != id) {
    sock_.close();
    fail(what, ": reply carries request id ", f.request_id, ": expected ", id);
  }
  if (f.type != expected) {
    sock_.close();
    fail(what, ": got a ", msg_type_name(f.type), " frame: expected ", msg_type_name(expected));
  }
  return f;
}

Reply FrameClient::infer(const WireTensor& payload, int split) {
  Reply reply;
  Frame req = make_request(next_id_++, payload, split);
  Frame f = exchange(req, MsgType::Response, reply);
  if (f.tensor.encoding != WireEncoding::Fp32 || f.tensor.shape.size() > 1)
    fail("request ", req.request_id, " to ", where(), ": reply holds ", format_shape(f.tensor.shape), " ",
         wire_encoding_name(f.tensor.encoding), ": expected fp32 class scores [classes]");
  reply.request_id = f.request_id;
  reply.scores = decode_floats(f.tensor);
  reply.server_ms = f.compute_us / 1000.0;
  return reply;
}

json FrameClient::control(MsgType ask, MsgType expected) {
  Reply timing;
  Frame f = exchange(make_control(ask, next_id_++), expected, timing);
  try {
    return json::parse(decode_text(f.tensor));
  } catch (const json::exception& e) {
    fail(msg_type_name(expected), " from ", where(), " is not JSON (", e.what(), ")");
  }
}

json FrameClient::health() { return control(MsgType::Health, MsgType::HealthReply); }
json FrameClient::stats() { return control(MsgType::Stats, MsgType::StatsReply); }

}  // namespace nasc
