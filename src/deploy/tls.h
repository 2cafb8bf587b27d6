// TLS 1.3 with mutual authentication on the device-server link (OpenSSL): a context per role, made from the PEM
// files of one deployment's CA, and the handshake that turns a connected Socket into an encrypted one whose peer
// holds a certificate from that CA.
#pragma once
#include <memory>
#include <string>

#include "deploy/socket.h"

struct ssl_ctx_st;

namespace nasc {

enum class TlsRole { Server, Client };

struct TlsOptions {
  std::string ca_file;    // PEM: the CA whose signature the peer's certificate must carry
  std::string cert_file;  // PEM: this side's certificate; a client may have none (nasc serve then refuses it)
  std::string key_file;   // PEM: its private key
  // Client only: the name (DNS or IP) the server's certificate must carry; empty: the host connected to.
  std::string server_name;
  // Client only: the SHA-256 of the server's certificate (hex, colons allowed). When set it replaces the name
  // check: the certificate must still chain to ca_file, and must be exactly this one.
  std::string pin_sha256;

  // The layout scripts/make-certs.sh writes: DIR/ca.crt with DIR/IDENTITY.crt and DIR/IDENTITY.key.
  static TlsOptions from_dir(const std::string& dir, const std::string& identity);
};

// The result of a handshake. `retryable` when the connection went away or timed out (another try may succeed),
// not when a certificate was refused on either side.
struct TlsHandshake {
  bool ok = false;
  bool retryable = false;
  IoResult io = IoResult::Ok;  // how the connection fared: Ok unless it closed, timed out or was interrupted
  std::string error;      // one line: what was refused and why
  std::string peer_name;  // the peer certificate's common name
};

class TlsContext {
 public:
  // Loads and checks the files (readable PEM, the key belongs to the certificate, the certificate chains to the
  // CA and has not expired); throws Error naming the file and the fault.
  TlsContext(TlsRole role, TlsOptions opts);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  TlsRole role() const { return role_; }
  const TlsOptions& options() const { return opts_; }
  // SHA-256 of this side's certificate, hex with colons (what a client pins).
  const std::string& fingerprint() const { return fingerprint_; }
  // Runs the handshake on a freshly connected socket (client: `host` is the name checked when server_name is
  // empty). On success the socket's I/O goes through TLS from here on. Never blocks past the deadline; when
  // interrupt_fd becomes readable the handshake ends as retryable.
  TlsHandshake handshake(Socket& s, const std::string& host, Deadline deadline, int interrupt_fd = -1) const;

 private:
  TlsRole role_;
  TlsOptions opts_;
  ssl_ctx_st* ctx_ = nullptr;
  std::string fingerprint_;
};

// SHA-256 of the certificate in a PEM file, hex with colons; throws Error naming the file.
std::string certificate_fingerprint(const std::string& pem_file);

// The reason of the first error on this thread's OpenSSL queue ("certificate verify failed"); empties the queue.
std::string tls_error_text();

}  // namespace nasc
