#include "tls_args.h"

#include "common/error.h"

namespace nasc::cli {

void TlsArgs::add_to(CLI::App& app, TlsRole role) {
  const bool server = role == TlsRole::Server;
  auto* tls = app.add_option("--tls", dir,
                             std::string("TLS 1.3 with mutual authentication, files from a directory made by "
                                         "scripts/make-certs.sh: DIR/ca.crt and DIR/") +
                                 (server ? "server" : "device") + ".crt/.key (the options below override single files)")
                  ->check(CLI::ExistingDirectory);
  app.add_option("--tls-ca", ca,
                 server ? "CA (PEM) that must have signed every device's certificate"
                        : "CA (PEM) that must have signed the server's certificate")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-cert", cert, server ? "This server's certificate (PEM)" : "This device's certificate (PEM)")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", key, "Private key of --tls-cert (PEM, unencrypted)")->check(CLI::ExistingFile);
  if (!server) {
    app.add_option("--tls-server-name", server_name,
                   "Name (DNS or IP) the server's certificate must carry (default: the host of --server)");
    app.add_option("--tls-pin", pin,
                   "SHA-256 of the server's certificate (nasc serve prints it): only that certificate is accepted, "
                   "instead of the name check");
  }
  app.add_flag("--insecure", insecure,
               server ? "Allow plaintext on a --listen address beyond loopback: anyone who reaches the port is "
                        "served and payloads travel in clear"
                      : "Allow plaintext to a --server beyond loopback: payloads travel in clear to whoever answers")
      ->excludes(tls);
}

std::shared_ptr<const TlsContext> TlsArgs::context(TlsRole role) const {
  const bool server = role == TlsRole::Server;
  if (dir.empty() && ca.empty() && cert.empty() && key.empty()) {
    if (!server_name.empty() || !pin.empty()) fail("--tls-server-name and --tls-pin need TLS: give --tls DIR");
    return nullptr;
  }
  if (insecure) fail("--insecure contradicts the TLS options: give one or the other");
  TlsOptions o = dir.empty() ? TlsOptions{} : TlsOptions::from_dir(dir, server ? "server" : "device");
  if (!ca.empty()) o.ca_file = ca;
  if (!cert.empty()) o.cert_file = cert;
  if (!key.empty()) o.key_file = key;
  if (o.ca_file.empty() || o.cert_file.empty() || o.key_file.empty())
    fail("TLS needs a CA, a certificate and its key: give --tls DIR, or all of --tls-ca, --tls-cert and --tls-key");
  o.server_name = server_name;
  o.pin_sha256 = pin;
  return std::make_shared<TlsContext>(role, o);
}

}  // namespace nasc::cli
