#include "deploy/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "deploy/tls.h"

namespace nasc {
namespace {

// Milliseconds left until the deadline for poll(), rounded up so that a wait never returns just short of it.
int ms_left(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return int(std::min<int64_t>((left + 999) / 1000, 1 << 30));
}

enum class Ready { Yes, Timeout, Interrupted, Error };

Ready wait_for(int fd, short events, Deadline deadline, int interrupt_fd) {
  for (;;) {
    pollfd fds[2] = {{fd, events, 0}, {interrupt_fd, POLLIN, 0}};
    int n = ::poll(fds, interrupt_fd >= 0 ? 2 : 1, ms_left(deadline));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Ready::Error;
    }
    if (interrupt_fd >= 0 && (fds[1].revents & POLLIN)) return Ready::Interrupted;
    if (n > 0 && fds[0].revents) return Ready::Yes;  // errors and hang-ups surface in the following call
    if (Clock::now() >= deadline) return Ready::Timeout;
  }
}

void set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL, 0);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

void set_nodelay(int fd) {
  // Frames are written whole; Nagle + delayed ACK would add tens of milliseconds to every reply.
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

struct AddrInfo {
  addrinfo* list = nullptr;
  ~AddrInfo() {
    if (list) ::freeaddrinfo(list);
  }
};

void resolve(const std::string& host, uint16_t port, bool passive, AddrInfo& out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &out.list);
  if (rc != 0) fail("cannot resolve host '", host, "': ", ::gai_strerror(rc), " (expected a name or address)");
}

std::string errno_text(int e) { return std::strerror(e); }

// OpenSSL's own socket BIO writes with write(), which raises SIGPIPE when the peer is gone and would kill the
// process; this one sends with MSG_NOSIGNAL like the plaintext path, so nothing process-wide has to change.
int bio_fd(BIO* b) { return int(reinterpret_cast<intptr_t>(BIO_get_data(b))); }

bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == EINTR; }

int bio_write(BIO* b, const char* data, int len) {
  BIO_clear_retry_flags(b);
  ssize_t n = ::send(bio_fd(b), data, size_t(len), MSG_NOSIGNAL);
  if (n < 0 && would_block(errno)) BIO_set_retry_write(b);
  return int(n);
}

int bio_read(BIO* b, char* data, int len) {
  BIO_clear_retry_flags(b);
  ssize_t n = ::recv(bio_fd(b), data, size_t(len), 0);
  if (n < 0 && would_block(errno)) BIO_set_retry_read(b);
  return int(n);
}

long bio_ctrl(BIO* b, int cmd, long, void* ptr) {
  if (cmd == BIO_CTRL_FLUSH) return 1;
  if (cmd == BIO_C_GET_FD) {
    if (ptr) *static_cast<int*>(ptr) = bio_fd(b);
    return bio_fd(b);
  }
  return 0;
}

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

BIO_METHOD* socket_bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "nasc socket");
    if (!m || !BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
        !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create))
      fail("cannot set up OpenSSL's socket I/O (out of memory?)");
    return m;
  }();
  return method;
}

bool eof_reason(unsigned long e) { return ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING; }

}  // namespace

bool is_loopback_host(const std::string& host) {
  if (host.empty()) return false;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &list) != 0) return false;
  bool all = list != nullptr;
  for (addrinfo* a = list; a; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      const uint32_t ip = ntohl(reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr.s_addr);
      all = all && (ip >> 24) == 127;
    } else if (a->ai_family == AF_INET6) {
      const in6_addr& ip = reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr;
      all = all && (IN6_IS_ADDR_LOOPBACK(&ip) || (IN6_IS_ADDR_V4MAPPED(&ip) && ip.s6_addr[12] == 127));
    } else {
      all = false;
    }
  }
  ::freeaddrinfo(list);
  return all;
}

Endpoint parse_endpoint(const std::string& text, const char* what, bool any_port) {
  const size_t colon = text.rfind(':');
  Endpoint e;
  if (colon != std::string::npos) e.host = text.substr(0, colon);
  if (e.host.size() >= 2 && e.host.front() == '[' && e.host.back() == ']') e.host = e.host.substr(1, e.host.size() - 2);
  const std::string port = colon == std::string::npos ? "" : text.substr(colon + 1);
  const bool digits = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos;
  const long value = digits ? std::stol(port) : 0;
  if (e.host.empty() || !digits || value < (any_port ? 0 : 1) || value > 65535)
    fail(what, " '", text, "': expected HOST:PORT with a port in ", any_port ? "0..65535 (0: any free port)" : "1..65535",
         ", e.g. 127.0.0.1:9000");
  e.port = uint16_t(value);
  return e;
}

const char* io_result_name(IoResult r) {
  switch (r) {
    case IoResult::Ok: return "ok";
    case IoResult::Closed: return "connection closed by peer";
    case IoResult::Timeout: return "timed out";
    case IoResult::Interrupted: return "interrupted";
    case IoResult::Error: return "socket error";
  }
  return "?";
}

// ---- Socket ---------------------------------------------------------------------------------------------------

Socket::Socket(int fd) : fd_(fd) {
  if (fd_ >= 0) set_nonblocking(fd_);
}

Socket::Socket(Socket&& o) noexcept
    : fd_(o.fd_), ssl_(o.ssl_), tls_failed_(o.tls_failed_), tls_closed_(o.tls_closed_),
      last_error_(std::move(o.last_error_)) {
  o.fd_ = -1;
  o.ssl_ = nullptr;
}

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    ssl_ = o.ssl_;
    tls_failed_ = o.tls_failed_;
    tls_closed_ = o.tls_closed_;
    last_error_ = std::move(o.last_error_);
    o.fd_ = -1;
    o.ssl_ = nullptr;
  }
  return *this;
}

void Socket::send_close_notify() {
  if (!ssl_ || tls_closed_) return;
  tls_closed_ = true;
  if (!SSL_is_init_finished(ssl_)) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // non-blocking: queues and sends close_notify; the peer's is not awaited
  ERR_clear_error();
}

void Socket::close() {
  if (ssl_) {
    send_close_notify();
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  tls_failed_ = tls_closed_ = false;
}

void Socket::shutdown_write() {
  send_close_notify();
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void Socket::attach_tls(ssl_st* ssl) {
  if (ssl_) SSL_free(ssl_);
  ssl_ = ssl;
  tls_failed_ = tls_closed_ = false;
  BIO* bio = BIO_new(socket_bio_method());
  if (!bio) fail("cannot set up OpenSSL's socket I/O (out of memory?)");
  BIO_set_data(bio, reinterpret_cast<void*>(intptr_t(fd_)));
  SSL_set_bio(ssl_, bio, bio);
}

IoResult Socket::tls_handshake(Deadline deadline, int interrupt_fd) {
  for (;;) {
    ERR_clear_error();
    const int rc = SSL_do_handshake(ssl_);
    if (rc == 1) return IoResult::Ok;
    const int saved = errno;
    short want = POLLIN;
    switch (SSL_get_error(ssl_, rc)) {
      case SSL_ERROR_WANT_READ: break;
      case SSL_ERROR_WANT_WRITE: want = POLLOUT; break;
      case SSL_ERROR_ZERO_RETURN: tls_closed_ = true; return IoResult::Closed;
      case SSL_ERROR_SYSCALL:
        tls_closed_ = true;
        if (saved == 0 || saved == EPIPE || saved == ECONNRESET) return IoResult::Closed;
        last_error_ = errno_text(saved);
        return IoResult::Error;
      default:
        tls_closed_ = true;
        if (eof_reason(ERR_peek_error())) {
          ERR_clear_error();
          return IoResult::Closed;
        }
        tls_failed_ = true;
        last_error_ = tls_error_text();
        return IoResult::Error;
    }
    const IoResult r = await_io(want, deadline, interrupt_fd);
    if (r != IoResult::Ok) return r;
  }
}

long Socket::io_once(bool write, void* data, size_t size, short& want, IoResult& end) {
  want = write ? POLLOUT : POLLIN;
  if (!ssl_) {
    const ssize_t n = write ? ::send(fd_, data, size, MSG_NOSIGNAL) : ::recv(fd_, data, size, 0);
    if (n > 0) return long(n);
    if (n == 0 && !write) {
      end = IoResult::Closed;
      return -1;
    }
    if (n < 0 && would_block(errno)) return 0;
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
      end = IoResult::Closed;
      return -1;
    }
    last_error_ = errno_text(errno);
    end = IoResult::Error;
    return -1;
  }
  ERR_clear_error();
  size_t n = 0;
  const int rc = write ? SSL_write_ex(ssl_, data, size, &n) : SSL_read_ex(ssl_, data, size, &n);
  if (rc == 1) return long(n);
  const int saved = errno;
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ: want = POLLIN; return 0;
    case SSL_ERROR_WANT_WRITE: want = POLLOUT; return 0;
    case SSL_ERROR_ZERO_RETURN: end = IoResult::Closed; return -1;  // the peer's close_notify
    case SSL_ERROR_SYSCALL:
      tls_closed_ = true;
      end = saved == 0 || saved == EPIPE || saved == ECONNRESET ? IoResult::Closed : IoResult::Error;
      if (end == IoResult::Error) last_error_ = errno_text(saved);
      return -1;
    default:
      tls_closed_ = true;
      if (eof_reason(ERR_peek_error())) {
        ERR_clear_error();
        end = IoResult::Closed;
        return -1;
      }
      tls_failed_ = true;
      last_error_ = tls_error_text();
      end = IoResult::Error;
      return -1;
  }
}

Socket Socket::connect(const std::string& host, uint16_t port, int timeout_ms) {
  AddrInfo ai;
  resolve(host, port, false, ai);
  Deadline deadline = deadline_in_ms(timeout_ms);
  std::string last = "no address";
  for (addrinfo* a = ai.list; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last = errno_text(errno);
      continue;
    }
    Socket s(fd);
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc < 0 && errno != EINPROGRESS) {
      last = errno_text(errno);
      continue;
    }
    if (rc < 0) {
      Ready r = wait_for(fd, POLLOUT, deadline, -1);
      if (r == Ready::Timeout) fail("connecting to ", host, ":", port, " timed out after ", timeout_ms, " ms");
      int err = 0;
      socklen_t len = sizeof err;
      if (r != Ready::Yes || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
      if (err != 0) {
        last = errno_text(err);
        continue;
      }
    }
    set_nodelay(fd);
    return s;
  }
  fail("cannot connect to ", host, ":", port, ": ", last);
}

IoResult Socket::send_all(const void* data, size_t size, Deadline deadline) {
  char* p = static_cast<char*>(const_cast<void*>(data));  // io_once writes from it, never into it
  while (size > 0) {
    short want = 0;
    IoResult end = IoResult::Ok;
    const long n = io_once(true, p, size, want, end);
    if (n < 0) return end;
    if (n > 0) {
      p += n;
      size -= size_t(n);
      continue;
    }
    const IoResult r = await_io(want, deadline, -1);
    if (r != IoResult::Ok) return r;
  }
  return IoResult::Ok;
}

IoResult Socket::recv_exact(void* data, size_t size, Deadline deadline, size_t* got, int interrupt_fd) {
  char* p = static_cast<char*>(data);
  size_t done = 0;
  IoResult result = IoResult::Ok;
  while (done < size) {
    short want = 0;
    const long n = io_once(false, p + done, size - done, want, result);
    if (n < 0) break;
    if (n > 0) {
      done += size_t(n);
      continue;
    }
    result = await_io(want, deadline, interrupt_fd);
    if (result != IoResult::Ok) break;
  }
  if (got) *got = done;
  return result;
}

IoResult Socket::peek(void* data, size_t size, Deadline deadline, size_t* got, int interrupt_fd) {
  *got = 0;
  for (;;) {
    const ssize_t n = ::recv(fd_, data, size, MSG_PEEK);
    if (n > 0) {
      *got = size_t(n);
      return IoResult::Ok;
    }
    if (n == 0) return IoResult::Closed;
    if (!would_block(errno)) {
      if (errno == ECONNRESET) return IoResult::Closed;
      last_error_ = errno_text(errno);
      return IoResult::Error;
    }
    const IoResult r = await_io(POLLIN, deadline, interrupt_fd);
    if (r != IoResult::Ok) return r;
  }
}

IoResult Socket::wait_readable(Deadline deadline, int interrupt_fd) {
  if (ssl_ && SSL_pending(ssl_) > 0) return IoResult::Ok;  // decrypted bytes already buffered
  return await_io(POLLIN, deadline, interrupt_fd);
}

IoResult Socket::await_io(short events, Deadline deadline, int interrupt_fd) {
  switch (wait_for(fd_, events, deadline, interrupt_fd)) {
    case Ready::Yes: return IoResult::Ok;
    case Ready::Timeout: return IoResult::Timeout;
    case Ready::Interrupted: return IoResult::Interrupted;
    case Ready::Error: break;
  }
  last_error_ = errno_text(errno);
  return IoResult::Error;
}

void Socket::drain(size_t max_bytes, Deadline deadline) {
  char buf[4096];
  while (max_bytes > 0) {
    ssize_t n = ::recv(fd_, buf, std::min(sizeof buf, max_bytes), 0);
    if (n > 0) {
      max_bytes -= size_t(n);
      continue;
    }
    if (n == 0) return;
    if (errno == EINTR) continue;
    if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_for(fd_, POLLIN, deadline, -1) == Ready::Yes) continue;
    return;
  }
}

std::string Socket::peer() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd_ < 0 || ::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  return cat(host, ":", port);
}

// ---- Listener -------------------------------------------------------------------------------------------------

Listener::Listener(Listener&& o) noexcept : fd_(o.fd_), port_(o.port_) { o.fd_ = -1; }

Listener& Listener::operator=(Listener&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    port_ = o.port_;
    o.fd_ = -1;
  }
  return *this;
}

void Listener::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Listener Listener::open(const std::string& host, uint16_t port, int backlog) {
  AddrInfo ai;
  resolve(host, port, true, ai);
  std::string last = "no address";
  for (addrinfo* a = ai.list; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last = errno_text(errno);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) < 0 || ::listen(fd, backlog) < 0) {
      last = errno_text(errno);
      ::close(fd);
      continue;
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    Listener l;
    l.fd_ = fd;
    l.port_ = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                       : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    return l;
  }
  fail("cannot listen on ", host, ":", port, ": ", last, " (expected a free port on a local address)");
}

Socket Listener::accept(Deadline deadline, int interrupt_fd) {
  for (;;) {
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      set_nodelay(fd);
      return Socket(fd);
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      // Out of descriptors and the like: back off briefly instead of spinning; the caller loops.
      wait_for(-1, 0, std::min(deadline, deadline_in_ms(10)), interrupt_fd);
      return Socket();
    }
    if (wait_for(fd_, POLLIN, deadline, interrupt_fd) != Ready::Yes) return Socket();
  }
}

}  // namespace nasc
