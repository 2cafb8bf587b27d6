// The device's transport: sends request frames to a FrameServer over one kept-open connection, through an
// optional emulated link, with a deadline per call and bounded reconnects with exponential back-off.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/json_io.h"
#include "deploy/link_emulator.h"
#include "deploy/protocol.h"
#include "deploy/socket.h"
#include "deploy/tls.h"

namespace nasc {

struct ClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  int connect_timeout_ms = 2000;
  int request_timeout_ms = 10000;  // one call, reconnects and retries included; nothing blocks past it
  // Tries per call (0 = as many as fit before the deadline): inference is idempotent, so a lost request is
  // resent, and a server restarted within the deadline is found again.
  int max_attempts = 0;
  int backoff_initial_ms = 50;     // wait before the second try, doubled after each further failure
  int backoff_max_ms = 1000;
  uint32_t max_body_bytes = kDefaultMaxBody;  // bound on replies
  LinkOptions link;
  // TLS 1.3 with this device's certificate (a Client context): the server's certificate must chain to the CA and
  // carry the host's name (or the pinned fingerprint). Without it a non-loopback host is refused unless `insecure`.
  std::shared_ptr<const TlsContext> tls;
  bool insecure = false;
};

// One answered request with what it cost, measured on the device (ARCHITECTURE.md §5: device/transfer/server/total).
struct Reply {
  uint64_t request_id = 0;
  std::vector<float> scores;
  double server_ms = 0;      // compute time reported by the server
  double uplink_ms = 0;      // sending the request frame, emulated link included
  double round_trip_ms = 0;  // first request byte sent -> reply received (uplink + server + downlink)
  double total_ms = 0;       // the whole call, reconnects included
  size_t request_bytes = 0;
  size_t reply_bytes = 0;
  int attempts = 0;
};

// Throws Error when `opts` would send plaintext to a host beyond loopback without saying `insecure`.
void require_tls_beyond_loopback(const ClientOptions& opts);

class FrameClient {
 public:
  explicit FrameClient(ClientOptions opts);  // connects lazily, on the first call

  // Throws Error naming the server and the cause: unreachable after the tries (with the first and last reason),
  // no reply within request_timeout_ms, a malformed reply, or the server's error frame (code and message).
  Reply infer(const WireTensor& payload, int split);  // the payload as cut at `split`
  json health();
  json stats();

  bool connected() const { return sock_.valid(); }
  const std::string& server_identity() const { return server_identity_; }  // the certificate's name (TLS)
  void disconnect() { sock_.close(); }
  const ClientOptions& options() const { return opts_; }
  const LinkEmulator& link() const { return link_; }

 private:
  // One call with its retries; attempt_exchange is one try, throwing a Retry for what another try may fix.
  Frame exchange(const Frame& request, MsgType expected, Reply& timing);
  Frame attempt_exchange(const std::vector<uint8_t>& bytes, uint64_t id, MsgType expected, Deadline deadline,
                         const std::string& what, Reply& timing);
  json control(MsgType ask, MsgType expected);
  void connect(Deadline deadline, const std::string& what);
  std::string where() const;

  ClientOptions opts_;
  LinkEmulator link_;
  Socket sock_;
  std::string server_identity_;
  uint64_t next_id_ = 1;
};

}  // namespace nasc
