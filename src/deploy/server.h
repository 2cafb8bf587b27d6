// The edge server's transport: accepts frame connections, answers health and stats itself and hands each
// well-formed request to a Handler (the tail network). A bad frame closes only its own connection; a full server
// makes room by closing its longest-idle connection; the log is rate-limited (docs/RUNTIME.md, "Reliability").
#pragma once
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/json_io.h"
#include "deploy/protocol.h"
#include "deploy/socket.h"
#include "deploy/tls.h"

namespace nasc {

struct Request {
  uint64_t id = 0;
  int split = 0;       // where the device cut the network: the tail to run starts at this block
  WireTensor payload;  // already checked against ServerOptions::input
  std::string peer;
};

struct Response {
  std::vector<float> scores;  // class scores, sent back as fp32 [classes]
};

// Runs on a connection thread, at most ServerOptions::workers at once. Throwing nasc::Error answers with a
// HandlerFailed error frame carrying the message and keeps the connection; any other exception does the same.
using Handler = std::function<Response(const Request&)>;

// What the tails accept, per split the request names. A split no cut holds is an UnknownSplit error frame; in a
// cut, an empty shape or encoding list accepts any, and a mismatch is a WrongShape error frame.
struct InputSpec {
  struct Cut {
    int split = -1;  // -1: any split
    std::vector<int64_t> shape;
    std::vector<WireEncoding> encodings;
  };
  std::vector<Cut> cuts;  // none: accepts anything

  static InputSpec any_split(std::vector<int64_t> shape, std::vector<WireEncoding> encodings);
  const Cut* find(int split) const;  // the cut serving `split`; null when there is none (and cuts are given)
  // Empty when `split` is served and t is accepted there, else a one-line reason naming what was expected.
  std::string check_split(int split) const;
  std::string check(int split, const WireTensor& t) const;
  json to_json() const;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;                 // 0: an ephemeral port, see FrameServer::port()
  // At the cap, a new connection closes the longest-idle one (those that never sent a frame first) with an
  // Overloaded error frame; only when every connection is busy is the newcomer refused instead.
  int max_connections = 64;
  uint32_t max_body_bytes = kDefaultMaxBody;
  int io_timeout_ms = 5000;          // once a frame has begun, all of it must arrive (and a reply leave) in this
  int first_frame_timeout_ms = 5000; // a new connection must begin its first frame within this (capped at idle)
  int idle_timeout_ms = 60000;       // a connection between frames is closed after this
  int workers = 1;                   // handler calls running at once
  InputSpec input;
  // TLS 1.3 with client certificates (a Server context). Without it the server refuses to bind a non-loopback
  // address unless `insecure` says plaintext is meant. With it, a plaintext frame is answered with a
  // tls_required error frame and a failed handshake is logged with its reason; neither reaches the handler.
  std::shared_ptr<const TlsContext> tls;
  bool insecure = false;
  // One line per refused frame or connection; default: stderr, prefixed "nasc serve: ". At most log_burst lines
  // at once and log_per_second on average; the count of lines left out is reported with the next one.
  std::function<void(const std::string&)> log;
  int log_burst = 20;
  double log_per_second = 5;
};

struct ServerStats {
  uint64_t requests = 0;  // requests answered with a Response
  uint64_t health = 0;
  uint64_t stats = 0;
  uint64_t connections = 0;  // accepted
  uint64_t rejected = 0;     // refused at the connection cap (every connection busy)
  uint64_t evicted = 0;      // idle connections closed to make room for a new one
  uint64_t idle_closed = 0;  // closed by the first-frame or idle timeout
  uint64_t tls_refused = 0;  // TLS handshakes that failed (no, foreign or expired certificate; not TLS at all)
  uint64_t active = 0;
  uint64_t log_suppressed = 0;  // log lines left out by the rate limit
  std::array<uint64_t, kErrorCodeCount> errors{};  // by ErrorCode
  // Service time (full request frame read -> reply written), mean over all requests and percentiles over the
  // most recent 4096.
  double mean_ms = 0, p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;
  uint64_t error_total() const;
  json to_json() const;
};

class FrameServer {
 public:
  // Binds and starts accepting at once; throws Error when the address cannot be bound or an option is invalid.
  FrameServer(ServerOptions opts, Handler handler);
  ~FrameServer();  // request_stop() + wait()
  FrameServer(const FrameServer&) = delete;
  FrameServer& operator=(const FrameServer&) = delete;

  uint16_t port() const { return port_; }
  const ServerOptions& options() const { return opts_; }
  // Stops accepting, tells idle connections (shutting_down error frame) and closes them, lets requests in flight
  // finish and close after their reply. Async-signal-safe (an atomic store and a write to a pipe), so a
  // SIGINT/SIGTERM handler may call it.
  void request_stop() noexcept;
  bool stopping() const { return stop_.load(); }
  // Blocks until the accept loop and every connection have finished.
  void wait();
  ServerStats stats() const;

 private:
  // One connection. The accept thread reads the fields under mu to pick an eviction victim; the connection's
  // thread updates them under mu, and clears fd before it closes the socket, so an eviction never touches a
  // descriptor that has been closed (and maybe reused).
  struct Conn {
    std::thread thread;
    std::atomic<bool> done{false};
    std::mutex mu;
    int fd = -1;
    bool idle = true;     // waiting for a frame to begin
    bool served = false;  // has begun at least one frame
    bool evicted = false;
    Clock::time_point idle_since = Clock::now();
  };
  enum class Wait { Frame, Closed, Stopping, Evicted };
  void accept_loop();
  void admit(Socket s);
  bool evict_longest_idle();
  void serve(Socket sock, Conn* conn);
  void serve_frames(Socket& sock, Conn& conn, const std::string& peer);  // serve()'s loop; may throw
  bool start_tls(Socket& sock, Conn& conn, std::string& peer);           // peer gains the certificate's name
  void shut_and_drain(Socket& sock);
  Wait await_frame(Socket& sock, Conn& conn);
  bool read_client_frame(Socket& sock, const std::string& peer, FrameHeader& h, std::vector<uint8_t>& body);
  bool answer_control(Socket& sock, const FrameHeader& h);
  bool answer_request(Socket& sock, const std::string& peer, const FrameHeader& h, std::vector<uint8_t> body);
  void refuse(Socket& s, const std::string& peer, uint64_t id, const FrameStatus& why);
  void say_goodbye(Socket& s, ErrorCode code, const std::string& why);
  void count_error(ErrorCode c);
  void record_service(double ms);
  void log(const std::string& line);
  void acquire_worker();
  void release_worker();
  json health_json() const;

  ServerOptions opts_;
  Handler handler_;
  Listener listener_;
  uint16_t port_ = 0;
  int wake_[2] = {-1, -1};  // self-pipe: written once by request_stop, never read, so it stays readable
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex wait_mu_;
  bool joined_ = false;

  std::list<Conn> conns_;  // touched by the accept thread only
  std::atomic<int> active_{0};

  std::mutex log_mu_;
  double log_tokens_ = 0;
  Clock::time_point log_refilled_ = Clock::now();
  uint64_t log_dropped_ = 0;  // since the last line written

  std::mutex worker_mu_;
  std::condition_variable worker_cv_;
  int workers_free_ = 0;

  mutable std::mutex stats_mu_;
  ServerStats counters_;
  double total_ms_ = 0;
  std::vector<double> recent_ms_;  // ring of the latest service times
  size_t recent_next_ = 0;
};

// Throws Error when `opts` would serve plaintext on an address beyond loopback without saying `insecure`.
void require_tls_beyond_loopback(const ServerOptions& opts);

// Makes SIGINT and SIGTERM call server->request_stop() (one server per process; nullptr restores the default
// actions): the first signal drains, a second one exits at once (status 128 + signal) without waiting for the
// requests in flight. The server's destructor detaches itself.
void stop_on_signals(FrameServer* server);

}  // namespace nasc
