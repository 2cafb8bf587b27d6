#include "deploy/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.h"

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

}  // namespace

Endpoint parse_endpoint(const std::string& text, const char* what) {
  const size_t colon = text.rfind(':');
  Endpoint e;
  if (colon != std::string::npos) e.host = text.substr(0, colon);
  if (e.host.size() >= 2 && e.host.front() == '[' && e.host.back() == ']') e.host = e.host.substr(1, e.host.size() - 2);
  const std::string port = colon == std::string::npos ? "" : text.substr(colon + 1);
  const bool digits = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos;
  const long value = digits ? std::stol(port) : 0;
  if (e.host.empty() || value < 1 || value > 65535)
    fail(what, " '", text, "': expected HOST:PORT with a port in 1..65535, e.g. 127.0.0.1:9000");
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

Socket::Socket(Socket&& o) noexcept : fd_(o.fd_), last_error_(std::move(o.last_error_)) { o.fd_ = -1; }

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    last_error_ = std::move(o.last_error_);
    o.fd_ = -1;
  }
  return *this;
}

void Socket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Socket::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
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
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::send(fd_, p, size, MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      size -= size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      Ready r = wait_for(fd_, POLLOUT, deadline, -1);
      if (r == Ready::Timeout) return IoResult::Timeout;
      if (r == Ready::Error) {
        last_error_ = errno_text(errno);
        return IoResult::Error;
      }
      continue;
    }
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return IoResult::Closed;
    last_error_ = errno_text(errno);
    return IoResult::Error;
  }
  return IoResult::Ok;
}

IoResult Socket::recv_exact(void* data, size_t size, Deadline deadline, size_t* got, int interrupt_fd) {
  char* p = static_cast<char*>(data);
  size_t done = 0;
  IoResult result = IoResult::Ok;
  while (done < size) {
    ssize_t n = ::recv(fd_, p + done, size - done, 0);
    if (n > 0) {
      done += size_t(n);
      continue;
    }
    if (n == 0) {
      result = IoResult::Closed;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      Ready r = wait_for(fd_, POLLIN, deadline, interrupt_fd);
      if (r == Ready::Yes) continue;
      result = r == Ready::Timeout ? IoResult::Timeout : r == Ready::Interrupted ? IoResult::Interrupted
                                                                                  : IoResult::Error;
      if (result == IoResult::Error) last_error_ = errno_text(errno);
      break;
    }
    if (errno == ECONNRESET) {
      result = IoResult::Closed;
      break;
    }
    last_error_ = errno_text(errno);
    result = IoResult::Error;
    break;
  }
  if (got) *got = done;
  return result;
}

IoResult Socket::wait_readable(Deadline deadline, int interrupt_fd) {
  switch (wait_for(fd_, POLLIN, deadline, interrupt_fd)) {
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
