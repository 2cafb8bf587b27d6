#include "deploy/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace nasc {
namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

// The first certificate of a PEM file, or an Error naming the option's file and what is wrong with it.
X509Ptr read_certificate(const std::string& path, const char* what) {
  BIO* bio = BIO_new_file(path.c_str(), "r");
  if (!bio) {
    ERR_clear_error();
    fail(what, " '", path, "': cannot open (", std::strerror(errno), ")");
  }
  X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  ERR_clear_error();
  if (!cert) fail(what, " '", path, "': not a PEM certificate (expected -----BEGIN CERTIFICATE-----)");
  return cert;
}

std::string fingerprint_of(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!X509_digest(cert, EVP_sha256(), md, &len)) fail("cannot compute a certificate's SHA-256");
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    if (i) out += ':';
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

// Hex digits only, upper case, so that "ab:cd" and "ABCD" compare equal.
std::string normalized_hex(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != ':') out += char(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string common_name(X509* cert) {
  char buf[256] = "";
  if (!cert || X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf) < 0)
    return "";
  return buf;
}

bool is_ip_address(const std::string& name) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, name.c_str(), buf) == 1 || ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

// Why a handshake that OpenSSL refused failed, in words a user can act on. `peer` is "server" or "device".
std::string refusal(SSL* ssl, const Socket& s, TlsRole role, const TlsOptions& o) {
  const long verify = SSL_get_verify_result(ssl);
  const char* peer = role == TlsRole::Client ? "the server's" : "the device's";
  if (verify != X509_V_OK) {
    std::string why = cat(peer, " certificate was refused: ", X509_verify_cert_error_string(verify));
    if (verify == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY || verify == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
        verify == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN)
      why += cat(" (it is not signed by the CA in ", o.ca_file, ")");
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
      why += " (give the name it was issued for with --tls-server-name, or pin it with --tls-pin)";
    return why;
  }
  const std::string& r = s.last_error();
  if (r.find("alert") != std::string::npos)
    return cat(role == TlsRole::Client ? "the server" : "the device", " refused the TLS session: ", r);
  if (r == "peer did not return a certificate")
    return cat("the device sent no certificate (expected one signed by the CA in ", o.ca_file, ")");
  if (r == "wrong version number" || r == "packet length too long" || r == "http request" ||
      r == "record layer failure" || r == "unexpected message")
    return cat("the peer does not speak TLS 1.3 (", r, ")",
               role == TlsRole::Client ? ": is the server running without --tls?" : "");
  return r;
}

}  // namespace

TlsOptions TlsOptions::from_dir(const std::string& dir, const std::string& identity) {
  TlsOptions o;
  o.ca_file = dir + "/ca.crt";
  o.cert_file = dir + "/" + identity + ".crt";
  o.key_file = dir + "/" + identity + ".key";
  return o;
}

std::string certificate_fingerprint(const std::string& pem_file) {
  return fingerprint_of(read_certificate(pem_file, "certificate").get());
}

TlsContext::TlsContext(TlsRole role, TlsOptions opts) : role_(role), opts_(std::move(opts)) {
  const bool own_cert = role_ == TlsRole::Server || !opts_.cert_file.empty() || !opts_.key_file.empty();
  if (own_cert) fingerprint_ = fingerprint_of(read_certificate(opts_.cert_file, "--tls-cert").get());
  read_certificate(opts_.ca_file, "--tls-ca");
  if (!opts_.pin_sha256.empty()) {
    const std::string pin = normalized_hex(opts_.pin_sha256);
    if (pin.size() != 64 || pin.find_first_not_of("0123456789ABCDEF") != std::string::npos)
      fail("--tls-pin '", opts_.pin_sha256, "': expected the 64 hex digits of a SHA-256 (colons allowed)");
  }

  ctx_ = SSL_CTX_new(role_ == TlsRole::Server ? TLS_server_method() : TLS_client_method());
  if (!ctx_) fail("cannot create a TLS context: ", tls_error_text());
  // Only TLS 1.3: its handshake encrypts the certificates (the device's name stays private) and takes one round trip.
  SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
  // A connection that ends between frames is normal here (frames carry their own lengths and checksums), and
  // nothing uses resumption: no tickets, so a readable socket always means frame bytes or the end.
  SSL_CTX_set_options(ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_num_tickets(ctx_, 0);
  SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
  auto failed = [&](const std::string& what) {
    const std::string why = tls_error_text();
    SSL_CTX_free(ctx_);
    ctx_ = nullptr;
    fail(what, ": ", why);
  };
  if (own_cert && SSL_CTX_use_certificate_chain_file(ctx_, opts_.cert_file.c_str()) != 1)
    failed(cat("--tls-cert '", opts_.cert_file, "'"));
  if (own_cert) {
    BIO* bio = BIO_new_file(opts_.key_file.c_str(), "r");
    EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
    if (bio) BIO_free(bio);
    if (!key) failed(cat("--tls-key '", opts_.key_file, "': expected an unencrypted PEM private key"));
    const bool used = SSL_CTX_use_PrivateKey(ctx_, key) == 1 && SSL_CTX_check_private_key(ctx_) == 1;
    EVP_PKEY_free(key);
    if (!used) failed(cat("--tls-key '", opts_.key_file, "' does not belong to --tls-cert '", opts_.cert_file, "'"));
  }
  if (SSL_CTX_load_verify_locations(ctx_, opts_.ca_file.c_str(), nullptr) != 1)
    failed(cat("--tls-ca '", opts_.ca_file, "'"));
  if (role_ == TlsRole::Server) {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(opts_.ca_file.c_str());
    if (!names) failed(cat("--tls-ca '", opts_.ca_file, "'"));
    SSL_CTX_set_client_CA_list(ctx_, names);
  } else {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
}

TlsContext::~TlsContext() {
  if (ctx_) SSL_CTX_free(ctx_);
}

TlsHandshake TlsContext::handshake(Socket& s, const std::string& host, Deadline deadline, int interrupt_fd) const {
  TlsHandshake out;
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) {
    out.error = cat("cannot start a TLS session: ", tls_error_text());
    return out;
  }
  s.attach_tls(ssl);
  if (role_ == TlsRole::Client) {
    const std::string name = opts_.server_name.empty() ? host : opts_.server_name;
    if (opts_.pin_sha256.empty()) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      const int set = is_ip_address(name) ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                                          : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
      if (set != 1) {
        out.error = cat("cannot check the server's certificate for name '", name, "'");
        return out;
      }
    }
    if (!is_ip_address(name)) SSL_set_tlsext_host_name(ssl, name.c_str());
    SSL_set_connect_state(ssl);
  } else {
    SSL_set_accept_state(ssl);
  }

  const IoResult r = s.tls_handshake(deadline, interrupt_fd);
  if (r != IoResult::Ok) {
    out.io = s.tls_failed() ? IoResult::Ok : r;
    out.retryable = !s.tls_failed();
    out.error = r == IoResult::Error && s.tls_failed() ? refusal(ssl, s, role_, opts_)
                : r == IoResult::Error                 ? cat("TLS handshake failed: ", s.last_error())
                                                       : cat("TLS handshake: ", io_result_name(r));
    return out;
  }
  X509Ptr peer(SSL_get1_peer_certificate(ssl));
  if (!peer) {  // the verify mode makes OpenSSL refuse this already; kept so that a change there cannot open it
    out.error = "the peer presented no certificate";
    return out;
  }
  if (role_ == TlsRole::Client && !opts_.pin_sha256.empty()) {
    const std::string got = fingerprint_of(peer.get());
    if (normalized_hex(got) != normalized_hex(opts_.pin_sha256)) {
      out.error = cat("the server's certificate SHA-256 ", got, " is not the pinned ", opts_.pin_sha256);
      return out;
    }
  }
  out.ok = true;
  out.peer_name = common_name(peer.get());
  return out;
}

std::string tls_error_text() {
  std::string why;
  while (unsigned long e = ERR_get_error()) {
    const char* r = ERR_reason_error_string(e);
    if (why.empty()) why = r ? r : "TLS error";
  }
  return why.empty() ? "TLS error" : why;
}

}  // namespace nasc
