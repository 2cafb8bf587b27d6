// nasc serve: the edge server. Loads the tail of an exported split and answers device requests over TCP until
// SIGINT/SIGTERM, finishing the requests in flight (a second signal exits at once), then prints its statistics.
#include <cstdio>
#include <memory>

#include "command.h"
#include "common/error.h"
#include "deploy/server.h"
#include "deploy/split_runtime.h"
#include "nn/device.h"
#include "tls_args.h"

namespace {

struct ServeArgs {
  std::string model;
  std::string listen = "127.0.0.1:9000";
  std::string device = "auto";
  int threads = 0;
  nasc::ServerOptions server;
  nasc::cli::TlsArgs tls;
};

int run_serve(ServeArgs& a) {
  using namespace nasc;
  const Endpoint at = parse_endpoint(a.listen, "--listen", true);
  ServerOptions opts = a.server;
  opts.host = at.host;
  opts.port = at.port;
  opts.tls = a.tls.context(TlsRole::Server);
  opts.insecure = a.tls.insecure;
  require_tls_beyond_loopback(opts);  // before the model is loaded
  torch::Device device = select_device(a.device, a.threads);
  TailRuntime tail(a.model, device);
  const SplitManifest& m = tail.manifest();
  opts.input = tail.input_spec();
  FrameServer server(opts, tail.handler());
  stop_on_signals(&server);
  std::string held;
  for (const InputSpec::Cut& c : opts.input.cuts)
    held += nasc::cat(held.empty() ? "" : ", ", c.split, " (", format_shape(c.shape), c.split == 0 ? " raw)" : ")");
  std::printf("serving the tail of %s (blocks [%d, %d)) on %s:%u, %s; requests at split %s; Ctrl-C stops\n",
              m.raw.value("arch", std::string("?")).c_str(), opts.input.cuts.front().split, m.num_blocks,
              opts.host.c_str(), unsigned(server.port()), device_description(device).c_str(), held.c_str());
  if (opts.tls)
    std::printf("TLS 1.3: devices need a certificate signed by %s; this server's certificate SHA-256 %s\n",
                opts.tls->options().ca_file.c_str(), opts.tls->fingerprint().c_str());
  else
    std::printf("no TLS: plaintext%s\n", opts.insecure ? " (--insecure)" : " on loopback only");
  std::fflush(stdout);
  server.wait();
  stop_on_signals(nullptr);
  std::printf("stopped: %s\n", server.stats().to_json().dump().c_str());
  return 0;
}

nasc::cli::Action setup_serve(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  app.add_option("--model", a->model, "Export directory (manifest.json, tail/) written by nasc export")->required();
  app.add_option("--listen", a->listen, "HOST:PORT to listen on (port 0: any free one, printed); beyond loopback it needs --tls or --insecure")
      ->capture_default_str();
  nasc::cli::add_device_option(app, a->device);
  nasc::cli::add_threads_option(app, a->threads);
  app.add_option("--workers", a->server.workers, "Tail inferences running at once (connections beyond wait)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--max-connections", a->server.max_connections,
                 "Concurrent device connections; further ones are refused with an overloaded error")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--io-timeout-ms", a->server.io_timeout_ms,
                 "Once a frame has begun, all of it must arrive (and the reply leave) within this")
      ->check(CLI::Range(1, 3600000))
      ->capture_default_str();
  app.add_option("--first-frame-timeout-ms", a->server.first_frame_timeout_ms,
                 "A new connection that has not begun a frame within this is closed (at most the idle timeout)")
      ->check(CLI::Range(1, 3600000))
      ->capture_default_str();
  app.add_option("--idle-timeout-ms", a->server.idle_timeout_ms,
                 "A connection idle this long between frames is closed; when all --max-connections are taken, a "
                 "new one closes the longest-idle first")
      ->check(CLI::Range(1, 86400000))
      ->capture_default_str();
  app.add_option("--max-body", a->server.max_body_bytes, "Largest request body in bytes; larger frames are refused")
      ->check(CLI::Range(1u, 1u << 30))
      ->capture_default_str();
  a->tls.add_to(app, nasc::TlsRole::Server);
  return [a] { return run_serve(*a); };
}

}  // namespace

NASC_COMMAND(serve, "serve", "Serve the tail of an exported split over TCP (the edge server)", setup_serve);
