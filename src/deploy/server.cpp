#include "deploy/server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "common/error.h"
#include "common/stats.h"
#include "deploy/frame_io.h"

namespace nasc {
namespace {

constexpr size_t kRecentSamples = 4096;
constexpr size_t kDrainBytes = 64 * 1024;
constexpr int kDrainMs = 100;

std::atomic<FrameServer*> g_signal_server{nullptr};
std::atomic<int> g_stop_signals{0};

// The first signal asks for a drain; a second one means the operator will not wait: only async-signal-safe calls.
extern "C" void on_stop_signal(int sig) {
  if (g_stop_signals.fetch_add(1) > 0) {
    static const char msg[] = "nasc serve: second stop signal: exiting without waiting for requests in flight\n";
    ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)n;
    ::_exit(128 + sig);
  }
  if (FrameServer* s = g_signal_server.load()) s->request_stop();
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::string join_encodings(const std::vector<WireEncoding>& encs) {
  std::string s;
  for (size_t i = 0; i < encs.size(); ++i) s += (i ? "|" : "") + std::string(wire_encoding_name(encs[i]));
  return s;
}

}  // namespace

// ---- InputSpec, ServerStats -----------------------------------------------------------------------------------

InputSpec InputSpec::any_split(std::vector<int64_t> shape, std::vector<WireEncoding> encodings) {
  InputSpec s;
  s.cuts.push_back({-1, std::move(shape), std::move(encodings)});
  return s;
}

const InputSpec::Cut* InputSpec::find(int split) const {
  for (const Cut& c : cuts)
    if (c.split == split || c.split == -1) return &c;
  return nullptr;
}

std::string InputSpec::check_split(int split) const {
  if (cuts.empty() || find(split)) return {};
  std::string held;
  for (const Cut& c : cuts) held += cat(held.empty() ? "" : "|", c.split);
  return cat("split ", split, " is not served here: expected one of ", held);
}

std::string InputSpec::check(int split, const WireTensor& t) const {
  if (cuts.empty()) return {};
  const Cut* c = find(split);
  if (!c) return check_split(split);
  bool shape_ok = c->shape.empty() || t.shape == c->shape;
  bool enc_ok = c->encodings.empty() ||
                std::find(c->encodings.begin(), c->encodings.end(), t.encoding) != c->encodings.end();
  if (shape_ok && enc_ok) return {};
  return cat("input ", format_shape(t.shape), " ", wire_encoding_name(t.encoding), " is not accepted at split ", split,
             ": expected ", c->shape.empty() ? std::string("any shape") : format_shape(c->shape), " in ",
             c->encodings.empty() ? std::string("any encoding") : join_encodings(c->encodings));
}

json InputSpec::to_json() const {
  json out = json::array();
  for (const Cut& c : cuts) {
    json encs = json::array();
    for (WireEncoding e : c.encodings) encs.push_back(wire_encoding_name(e));
    out.push_back({{"split", c.split < 0 ? json(nullptr) : json(c.split)}, {"shape", c.shape}, {"encodings", encs}});
  }
  return out;
}

uint64_t ServerStats::error_total() const {
  uint64_t n = 0;
  for (uint64_t e : errors) n += e;
  return n;
}

json ServerStats::to_json() const {
  json errs = json::object();
  for (int i = 1; i < kErrorCodeCount; ++i)
    if (errors[i]) errs[error_code_name(ErrorCode(i))] = errors[i];
  return {{"requests", requests},
          {"health", health},
          {"stats", stats},
          {"errors", errs},
          {"error_total", error_total()},
          {"connections",
           {{"accepted", connections},
            {"rejected", rejected},
            {"evicted", evicted},
            {"idle_closed", idle_closed},
            {"tls_refused", tls_refused},
            {"active", active}}},
          {"log_suppressed", log_suppressed},
          {"service_ms", {{"mean", mean_ms}, {"p50", p50_ms}, {"p95", p95_ms}, {"p99", p99_ms}, {"max", max_ms}}}};
}

// ---- FrameServer ----------------------------------------------------------------------------------------------

FrameServer::FrameServer(ServerOptions opts, Handler handler) : opts_(std::move(opts)), handler_(std::move(handler)) {
  if (!handler_) fail("frame server needs a request handler");
  if (opts_.max_connections < 1)
    fail("max_connections ", opts_.max_connections, ": expected at least 1");
  if (opts_.io_timeout_ms < 1 || opts_.first_frame_timeout_ms < 1 || opts_.idle_timeout_ms < 1)
    fail("server timeouts ", opts_.io_timeout_ms, "/", opts_.first_frame_timeout_ms, "/", opts_.idle_timeout_ms,
         " ms (io/first frame/idle): expected at least 1 ms each");
  if (opts_.log_burst < 1 || !(opts_.log_per_second > 0))
    fail("log rate ", opts_.log_burst, " lines, ", opts_.log_per_second, "/s: expected a burst >= 1 and a rate > 0");
  log_tokens_ = opts_.log_burst;
  if (opts_.workers < 0) fail("workers ", opts_.workers, ": expected >= 0 (0 = one per core)");
  if (opts_.max_body_bytes < 1) fail("max_body_bytes 0: expected at least 1");
  workers_free_ = opts_.workers > 0 ? opts_.workers : int(std::max(1u, std::thread::hardware_concurrency()));
  recent_ms_.reserve(kRecentSamples);
  if (opts_.tls && opts_.tls->role() != TlsRole::Server) fail("frame server needs a server TLS context");
  require_tls_beyond_loopback(opts_);

  listener_ = Listener::open(opts_.host, opts_.port);
  port_ = listener_.port();
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) < 0) fail("cannot create the server's wake-up pipe");
  acceptor_ = std::thread(&FrameServer::accept_loop, this);
}

void require_tls_beyond_loopback(const ServerOptions& opts) {
  if (!opts.tls && !opts.insecure && !is_loopback_host(opts.host))
    fail("listening on '", opts.host, "' (not a loopback address) without TLS: give a certificate (--tls DIR, made "
         "by scripts/make-certs.sh) so that devices are authenticated and payloads encrypted, or --insecure to "
         "serve in clear anyone who can reach the port");
}

void stop_on_signals(FrameServer* server) {
  g_signal_server.store(server);
  struct sigaction sa {};
  g_stop_signals.store(0);
  sa.sa_handler = server ? on_stop_signal : SIG_DFL;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

FrameServer::~FrameServer() {
  FrameServer* self = this;
  if (g_signal_server.compare_exchange_strong(self, nullptr)) stop_on_signals(nullptr);
  request_stop();
  wait();
  for (int fd : wake_)
    if (fd >= 0) ::close(fd);
}

void FrameServer::request_stop() noexcept {
  if (!stop_.exchange(true)) {
    char c = 'x';
    ssize_t n = ::write(wake_[1], &c, 1);
    (void)n;
  }
}

void FrameServer::wait() {
  std::lock_guard<std::mutex> lock(wait_mu_);
  if (joined_) return;
  if (acceptor_.joinable()) acceptor_.join();
  joined_ = true;
}

void FrameServer::log(const std::string& line) {
  // A token bucket, so that a flood of bad frames cannot fill the disk or slow the server down with logging.
  std::string out;
  {
    std::lock_guard<std::mutex> lock(log_mu_);
    Clock::time_point now = Clock::now();
    double s = std::chrono::duration<double>(now - log_refilled_).count();
    log_refilled_ = now;
    log_tokens_ = std::min(double(opts_.log_burst), log_tokens_ + s * opts_.log_per_second);
    if (log_tokens_ < 1) {
      ++log_dropped_;
      std::lock_guard<std::mutex> stats_lock(stats_mu_);
      ++counters_.log_suppressed;
      return;
    }
    log_tokens_ -= 1;
    out = line;
    if (log_dropped_) out += cat(" (", log_dropped_, " earlier lines suppressed by the log rate limit)");
    log_dropped_ = 0;
  }
  if (opts_.log) {
    opts_.log(out);
  } else {
    out = "nasc serve: " + out + "\n";
    std::fputs(out.c_str(), stderr);
  }
}

void FrameServer::accept_loop() {
  while (!stop_.load()) {
    Socket s = listener_.accept(deadline_in_ms(1000), wake_[0]);
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (it->done.load()) {
        it->thread.join();
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
    if (s.valid() && !stop_.load()) admit(std::move(s));
  }
  listener_.close();
  for (Conn& c : conns_) c.thread.join();
  conns_.clear();
}

void FrameServer::admit(Socket s) {
  std::string peer = s.peer();
  if (active_.load() >= opts_.max_connections && !evict_longest_idle()) {
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      ++counters_.rejected;
    }
    count_error(ErrorCode::Overloaded);
    log(cat(peer, ": refused: all ", opts_.max_connections, " connections are busy"));
    // A TLS client expects a handshake, not a frame in clear: it just sees the close and retries.
    if (!opts_.tls)
      send_frame(s,
               make_error(0, ErrorCode::Overloaded,
                          cat("server has ", opts_.max_connections, " busy connections: retry later")),
               deadline_in_ms(100));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++counters_.connections;
  }
  ++active_;
  conns_.emplace_back();
  Conn* c = &conns_.back();
  c->fd = s.fd();
  try {
    c->thread = std::thread(&FrameServer::serve, this, std::move(s), c);
  } catch (const std::exception& e) {
    --active_;
    conns_.pop_back();
    log(cat(peer, ": refused: cannot start a connection thread (", e.what(), ")"));
  }
}

bool FrameServer::evict_longest_idle() {
  // Connections that have never sent a frame go first (a client that connects and waits is the cheap attack),
  // then the one idle longest; a busy connection is never cut.
  Conn* victim = nullptr;
  std::pair<bool, Clock::time_point> best{true, Clock::time_point::max()};
  for (Conn& c : conns_) {
    std::lock_guard<std::mutex> lock(c.mu);
    if (!c.idle || c.evicted || c.fd < 0) continue;
    std::pair<bool, Clock::time_point> key{c.served, c.idle_since};
    if (!victim || key < best) {
      victim = &c;
      best = key;
    }
  }
  if (!victim) return false;
  std::lock_guard<std::mutex> lock(victim->mu);
  if (!victim->idle || victim->evicted || victim->fd < 0) return false;  // it began a frame meanwhile
  victim->evicted = true;
  // Ends the victim's wait (its reads see EOF); its thread sends the reason and closes. It no longer counts as
  // active, so the newcomer takes its place at once.
  ::shutdown(victim->fd, SHUT_RD);
  --active_;
  std::lock_guard<std::mutex> stats_lock(stats_mu_);
  ++counters_.evicted;
  return true;
}

void FrameServer::refuse(Socket& s, const std::string& peer, uint64_t id, const FrameStatus& why) {
  count_error(why.code);
  log(cat(peer, ": ", error_code_name(why.code), ": ", why.message, "; closing the connection"));
  send_frame(s, make_error(id, why.code, why.message), deadline_in_ms(std::min(opts_.io_timeout_ms, 1000)));
  shut_and_drain(s);
}

void FrameServer::say_goodbye(Socket& s, ErrorCode code, const std::string& why) {
  // Not a fault of the client: the frame tells it to reconnect (FrameClient retries on both codes), no log line.
  send_frame(s, make_error(0, code, why), deadline_in_ms(std::min(opts_.io_timeout_ms, 200)));
  shut_and_drain(s);
}

void FrameServer::count_error(ErrorCode c) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  size_t i = size_t(c);
  if (i < counters_.errors.size()) ++counters_.errors[i];
}

void FrameServer::record_service(double ms) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  ++counters_.requests;
  total_ms_ += ms;
  counters_.max_ms = std::max(counters_.max_ms, ms);
  if (recent_ms_.size() < kRecentSamples) {
    recent_ms_.push_back(ms);
  } else {
    recent_ms_[recent_next_] = ms;
    recent_next_ = (recent_next_ + 1) % kRecentSamples;
  }
}

ServerStats FrameServer::stats() const {
  ServerStats s;
  std::vector<double> recent;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    s = counters_;
    recent = recent_ms_;
    if (s.requests) s.mean_ms = total_ms_ / double(s.requests);
  }
  s.active = uint64_t(std::max(0, active_.load()));
  if (!recent.empty()) {
    std::sort(recent.begin(), recent.end());
    s.p50_ms = quantile_sorted(recent, 0.50);
    s.p95_ms = quantile_sorted(recent, 0.95);
    s.p99_ms = quantile_sorted(recent, 0.99);
  }
  return s;
}

json FrameServer::health_json() const {
  return {{"status", stopping() ? "stopping" : "ok"},
          {"protocol", kProtocolVersion},
          {"tls", opts_.tls != nullptr},
          {"input", opts_.input.to_json()},
          {"max_body_bytes", opts_.max_body_bytes},
          {"active_connections", active_.load()}};
}

void FrameServer::acquire_worker() {
  std::unique_lock<std::mutex> lock(worker_mu_);
  worker_cv_.wait(lock, [this] { return workers_free_ > 0; });
  --workers_free_;
}

void FrameServer::release_worker() {
  {
    std::lock_guard<std::mutex> lock(worker_mu_);
    ++workers_free_;
  }
  worker_cv_.notify_one();
}

void FrameServer::serve(Socket sock, Conn* conn) {
  struct Done {
    FrameServer* self;
    Conn* conn;
    Socket& sock;
    ~Done() {
      {
        std::lock_guard<std::mutex> lock(conn->mu);
        conn->fd = -1;
        if (!conn->evicted) --self->active_;  // an eviction already gave the slot away
      }
      sock.close();
      conn->done.store(true);
    }
  } done{this, conn, sock};
  std::string peer = sock.peer();
  // One connection's failure (an allocation that fails, a bug) must never end the server: it ends that connection.
  try {
    if (opts_.tls && !start_tls(sock, *conn, peer)) return;
    serve_frames(sock, *conn, peer);
  } catch (const std::exception& e) {
    log(cat(peer, ": connection ended by an internal error: ", e.what()));
  } catch (...) {
    log(cat(peer, ": connection ended by an internal error"));
  }
}

bool FrameServer::start_tls(Socket& sock, Conn& conn, std::string& peer) {
  // The handshake is held to the first-frame timeout, and a connection in it counts as never served, so
  // connections that never finish one are closed and evicted like silent ones.
  const Deadline deadline = deadline_in_ms(std::min(opts_.first_frame_timeout_ms, opts_.idle_timeout_ms));
  uint8_t first = 0;
  size_t got = 0;
  IoResult r = sock.peek(&first, 1, deadline, &got, wake_[0]);
  TlsHandshake hs;
  if (r == IoResult::Ok && first != 0x16) {  // 0x16: a TLS handshake record
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      ++counters_.tls_refused;
    }
    if (first == uint8_t(kFrameMagic[0])) {
      refuse(sock, peer, 0,
             FrameStatus::fail(ErrorCode::TlsRequired, "this server accepts TLS connections only: give the client "
                                                       "--tls DIR (or --tls-ca, --tls-cert and --tls-key)"));
    } else {
      log(cat(peer, ": refused: not a TLS handshake (first byte 0x", std::hex, int(first), ")"));
      shut_and_drain(sock);
    }
    return false;
  }
  if (r == IoResult::Ok) {
    hs = opts_.tls->handshake(sock, "", deadline, wake_[0]);
    if (hs.ok) {
      peer = cat(hs.peer_name.empty() ? "?" : hs.peer_name, "@", peer);
      return true;
    }
  }
  {
    std::lock_guard<std::mutex> lock(conn.mu);
    if (conn.evicted || stop_.load() || r == IoResult::Interrupted || hs.io == IoResult::Interrupted) return false;
  }
  const bool timed_out = r == IoResult::Timeout || hs.io == IoResult::Timeout;
  if (!timed_out && (r != IoResult::Ok || hs.retryable)) return false;  // the peer went away: nothing to tell
  {
    std::lock_guard<std::mutex> stats_lock(stats_mu_);
    ++(timed_out ? counters_.idle_closed : counters_.tls_refused);
  }
  if (timed_out) return false;
  log(cat(peer, ": TLS refused: ", hs.error));
  shut_and_drain(sock);
  return false;
}

void FrameServer::shut_and_drain(Socket& sock) {
  // Read what the peer still sends before closing, so that the close is not a reset that destroys the alert.
  sock.shutdown_write();
  sock.drain(kDrainBytes, deadline_in_ms(kDrainMs));
}

void FrameServer::serve_frames(Socket& sock, Conn& conn, const std::string& peer) {
  for (;;) {
    switch (await_frame(sock, conn)) {
      case Wait::Frame: break;
      case Wait::Closed: return;
      case Wait::Stopping:
        say_goodbye(sock, ErrorCode::ShuttingDown, "server is shutting down: reconnect later or elsewhere");
        return;
      case Wait::Evicted:
        say_goodbye(sock, ErrorCode::Overloaded, "idle connection closed to make room for a new one: reconnect");
        return;
    }
    FrameHeader h;
    std::vector<uint8_t> body;
    if (!read_client_frame(sock, peer, h, body)) return;
    bool keep = MsgType(h.type) == MsgType::Request ? answer_request(sock, peer, h, std::move(body))
                                                    : answer_control(sock, h);
    if (!keep) return;
  }
}

FrameServer::Wait FrameServer::await_frame(Socket& sock, Conn& conn) {
  bool first;
  {
    std::lock_guard<std::mutex> lock(conn.mu);
    if (conn.evicted) return Wait::Evicted;
    conn.idle = true;
    conn.idle_since = Clock::now();
    first = !conn.served;
  }
  if (stop_.load()) return Wait::Stopping;
  const int wait_ms = first ? std::min(opts_.first_frame_timeout_ms, opts_.idle_timeout_ms) : opts_.idle_timeout_ms;
  IoResult r = sock.wait_readable(deadline_in_ms(wait_ms), wake_[0]);
  std::lock_guard<std::mutex> lock(conn.mu);
  if (conn.evicted) return Wait::Evicted;
  if (r == IoResult::Interrupted || stop_.load()) return Wait::Stopping;
  if (r == IoResult::Timeout) {
    std::lock_guard<std::mutex> stats_lock(stats_mu_);
    ++counters_.idle_closed;
  }
  if (r != IoResult::Ok) return Wait::Closed;
  conn.idle = false;
  conn.served = true;
  return Wait::Frame;
}

bool FrameServer::read_client_frame(Socket& sock, const std::string& peer, FrameHeader& h,
                                    std::vector<uint8_t>& body) {
  const Deadline deadline = deadline_in_ms(opts_.io_timeout_ms);
  FrameRead r = read_header(sock, FrameLimits{opts_.max_body_bytes}, deadline, h);
  if (!r.arrived()) {
    // EOF before any byte is a client that hung up between frames, not a fault.
    if (r.got > 0 || r.io == IoResult::Timeout)
      refuse(sock, peer, 0, FrameStatus::fail(ErrorCode::Truncated, r.reason("header", kHeaderBytes)));
    return false;
  }
  if (!r.status.ok()) {
    refuse(sock, peer, 0, r.status);
    return false;
  }
  auto type = MsgType(h.type);
  if (type != MsgType::Request && type != MsgType::Health && type != MsgType::Stats) {
    refuse(sock, peer, h.request_id,
           FrameStatus::fail(ErrorCode::UnexpectedType, cat("a client cannot send a ", msg_type_name(type),
                                                            " frame: expected request, health or stats")));
    return false;
  }
  // A request's shape and encoding are in its header: a tensor this tail cannot take is refused before its body
  // is allocated or read (body_len passed the bound in decode_header, so the allocation in read_body is limited
  // by max_body_bytes, and only made for an input the tail accepts).
  if (type == MsgType::Request) {
    std::string why = opts_.input.check_split(h.split);
    if (!why.empty()) {
      refuse(sock, peer, h.request_id, FrameStatus::fail(ErrorCode::UnknownSplit, why));
      return false;
    }
    why = opts_.input.check(h.split, frame_from(h, {}).tensor);
    if (!why.empty()) {
      refuse(sock, peer, h.request_id, FrameStatus::fail(ErrorCode::WrongShape, why));
      return false;
    }
  }
  r = read_body(sock, h, deadline, body);
  if (!r.ok()) {
    refuse(sock, peer, h.request_id,
           r.arrived() ? r.status : FrameStatus::fail(ErrorCode::Truncated, r.reason("body", h.body_len)));
    return false;
  }
  return true;
}

bool FrameServer::answer_control(Socket& sock, const FrameHeader& h) {
  const bool health = MsgType(h.type) == MsgType::Health;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++(health ? counters_.health : counters_.stats);
  }
  std::string text = health ? health_json().dump() : stats().to_json().dump();
  return send_frame(sock, make_control(health ? MsgType::HealthReply : MsgType::StatsReply, h.request_id, text),
                    deadline_in_ms(opts_.io_timeout_ms));
}

bool FrameServer::answer_request(Socket& sock, const std::string& peer, const FrameHeader& h,
                                 std::vector<uint8_t> body) {
  const Clock::time_point received = Clock::now();
  Request req;
  req.id = h.request_id;
  req.split = h.split;
  req.peer = peer;
  req.payload = frame_from(h, std::move(body)).tensor;
  // NaN or Inf would come back as NaN scores: refused, the connection stays (the frame itself was sound).
  const std::string why = non_finite_reason(req.payload);
  if (!why.empty()) {
    count_error(ErrorCode::NonFinite);
    log(cat(peer, ": request ", req.id, ": non_finite: ", why));
    return send_frame(sock, make_error(req.id, ErrorCode::NonFinite, why), deadline_in_ms(opts_.io_timeout_ms));
  }

  std::string failure;
  std::vector<uint8_t> reply;
  acquire_worker();
  Clock::time_point started = Clock::now();
  try {
    Response resp = handler_(req);
    double us = std::chrono::duration<double, std::micro>(Clock::now() - started).count();
    uint32_t compute_us = uint32_t(std::min(us, double(std::numeric_limits<uint32_t>::max())));
    reply = encode_frame(make_response(req.id, resp.scores, compute_us));
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  release_worker();

  if (!failure.empty()) {
    // The frame was well-formed, so the connection stays. The details (a LibTorch message may carry a backtrace
    // and paths) go to the log only; the client learns that its request failed.
    count_error(ErrorCode::HandlerFailed);
    log(cat(peer, ": request ", req.id, " failed: ", failure));
    return send_frame(sock, make_error(req.id, ErrorCode::HandlerFailed, "the server could not compute this request"),
                      deadline_in_ms(opts_.io_timeout_ms));
  }
  if (sock.send_all(reply.data(), reply.size(), deadline_in_ms(opts_.io_timeout_ms)) != IoResult::Ok) {
    log(cat(peer, ": reply to request ", req.id, " could not be sent; closing the connection"));
    return false;
  }
  record_service(ms_since(received));
  return true;
}

}  // namespace nasc
