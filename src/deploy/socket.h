// TCP sockets for the runtime: RAII file descriptors, connect with a timeout, and send/receive calls that report
// success as a value and never block past their deadline (non-blocking fds + poll), in clear or through TLS.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

struct ssl_st;

namespace nasc {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
inline Deadline deadline_in_ms(int64_t ms) { return Clock::now() + std::chrono::milliseconds(ms); }

enum class IoResult {
  Ok,
  Closed,       // the peer closed its side (EOF) or reset the connection
  Timeout,      // the deadline passed
  Interrupted,  // the interrupt fd became readable (shutdown)
  Error,        // any other socket error; see Socket::last_error()
};
const char* io_result_name(IoResult r);

struct Endpoint {
  std::string host;
  uint16_t port = 0;
};
// "HOST:PORT" (HOST may be [v6-address]); throws Error naming `what` and the text unless PORT is 1..65535 (or 0,
// any free port, when `any_port` allows it: for listening).
Endpoint parse_endpoint(const std::string& text, const char* what, bool any_port = false);
// True when every address `host` resolves to is a loopback one (127.0.0.0/8, ::1); false for "", 0.0.0.0 and
// names that do not resolve.
bool is_loopback_host(const std::string& host);

class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd);  // takes ownership; makes it non-blocking
  ~Socket() { close(); }
  Socket(Socket&& o) noexcept;
  Socket& operator=(Socket&& o) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // Throws Error naming host:port and the cause (refused, timed out, unresolvable).
  static Socket connect(const std::string& host, uint16_t port, int timeout_ms);

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  IoResult send_all(const void* data, size_t size, Deadline deadline);
  // Reads exactly `size` bytes. `got` (optional) tells a clean EOF (0 bytes) from a truncated read. When
  // interrupt_fd >= 0, becoming readable ends the wait with Interrupted.
  IoResult recv_exact(void* data, size_t size, Deadline deadline, size_t* got = nullptr, int interrupt_fd = -1);
  IoResult wait_readable(Deadline deadline, int interrupt_fd = -1);
  // Reads and drops up to max_bytes until EOF or the deadline, so that closing after an error does not reset
  // the connection and destroy the error frame the peer has not read yet.
  void drain(size_t max_bytes, Deadline deadline);
  // Up to `size` bytes that have arrived, left unread (waits for the first one); for telling protocols apart.
  IoResult peek(void* data, size_t size, Deadline deadline, size_t* got, int interrupt_fd = -1);
  void shutdown_write();  // after a TLS close_notify when the session is sound
  void close();
  std::string peer() const;  // "127.0.0.1:5000", or "?" when unknown
  const std::string& last_error() const { return last_error_; }

  // TLS (made by TlsContext::handshake): the session is owned from here on and all I/O above goes through it.
  void attach_tls(ssl_st* ssl);
  IoResult tls_handshake(Deadline deadline, int interrupt_fd);
  bool tls() const { return ssl_ != nullptr; }
  ssl_st* tls_session() const { return ssl_; }
  // The last Error came from the TLS layer (a refused certificate, the peer's alert, bytes that are no TLS
  // record), not from the connection: another try would fail the same way.
  bool tls_failed() const { return tls_failed_; }

 private:
  // One send or receive, in clear or through TLS: > 0 bytes moved; 0: wait for `want` (POLLIN or POLLOUT), then
  // call again; < 0: finished with `end`.
  long io_once(bool write, void* data, size_t size, short& want, IoResult& end);
  // Waits until `events` (POLLIN/POLLOUT) are ready: Ok, Timeout, Interrupted, or Error with last_error() set.
  IoResult await_io(short events, Deadline deadline, int interrupt_fd);
  void send_close_notify();

  int fd_ = -1;
  ssl_st* ssl_ = nullptr;
  bool tls_failed_ = false;
  bool tls_closed_ = false;  // close_notify sent, or the session broke: nothing more is written through it
  std::string last_error_;
};

class Listener {
 public:
  Listener() = default;
  ~Listener() { close(); }
  Listener(Listener&& o) noexcept;
  Listener& operator=(Listener&& o) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds host:port (port 0: an ephemeral port, see port()) with SO_REUSEADDR; throws Error on failure.
  static Listener open(const std::string& host, uint16_t port, int backlog = 128);
  uint16_t port() const { return port_; }
  bool valid() const { return fd_ >= 0; }
  // An invalid Socket when the deadline passes or interrupt_fd becomes readable first.
  Socket accept(Deadline deadline, int interrupt_fd = -1);
  void close();

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace nasc
