// The TLS options of `nasc serve` and `nasc client`, named alike on both ends, and the context they make.
#pragma once
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "deploy/tls.h"

namespace nasc::cli {

struct TlsArgs {
  std::string dir;  // scripts/make-certs.sh output: ca.crt, server.{crt,key}, device.{crt,key}
  std::string ca, cert, key;
  std::string server_name, pin;  // client only
  bool insecure = false;

  void add_to(CLI::App& app, TlsRole role);
  // nullptr when no TLS option was given; throws Error for an incomplete set of files or a bad file.
  std::shared_ptr<const TlsContext> context(TlsRole role) const;
};

}  // namespace nasc::cli
