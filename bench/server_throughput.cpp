// Transport cost without a network in the way: requests/s and latency of FrameServer + FrameClient on loopback
// with a trivial handler at several client counts, plaintext and TLS 1.3 with mutual authentication side by
// side (and the cost of a connection's handshake), and the per-request cost of encoding and framing a payload.
// TLS certificates: --certs DIR (made by scripts/make-certs.sh), else made in a temporary directory.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/stats.h"
#include "deploy/client.h"
#include "deploy/protocol.h"
#include "deploy/server.h"
#include "deploy/tls.h"

using namespace nasc;

namespace {

double now_s() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

std::vector<float> activation(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = float((i * 7919) % 1000) / 250.f - 1.f;
  return v;
}

void bench_codec(const std::vector<int64_t>& shape, int reps) {
  size_t n = 1;
  for (int64_t d : shape) n *= size_t(d);
  std::vector<float> v = activation(n);
  std::printf("encode+frame and decode+unframe of a %s activation (%zu values), per request:\n",
              format_shape(shape).c_str(), n);
  for (WireEncoding enc : {WireEncoding::Fp32, WireEncoding::Fp16, WireEncoding::Int8}) {
    size_t bytes = 0;
    double t0 = now_s();
    for (int r = 0; r < reps; ++r) bytes = encode_frame(make_request(uint64_t(r), encode_floats(v, shape, enc), 0)).size();
    double t1 = now_s();
    std::vector<uint8_t> frame = encode_frame(make_request(1, encode_floats(v, shape, enc), 0));
    std::vector<float> out(n);
    for (int r = 0; r < reps; ++r) {
      Frame f;
      if (!decode_frame(frame.data(), frame.size(), FrameLimits{}, f).ok()) return;
      decode_floats(f.tensor, out.data());
    }
    double t2 = now_s();
    std::printf("  %-5s %8zu bytes  encode %8.1f us  decode %8.1f us\n", wire_encoding_name(enc), bytes,
                (t1 - t0) / reps * 1e6, (t2 - t1) / reps * 1e6);
  }
}

struct Tls {
  std::shared_ptr<const TlsContext> server, client;
};

struct Run {
  double rps = 0, p50 = 0, p99 = 0;
  size_t requests = 0;
  int failures = 0;
};

Run bench_server(int clients, double seconds, const std::vector<int64_t>& shape, int workers, const Tls* tls) {
  ServerOptions so;
  so.max_connections = std::max(64, clients * 2);
  so.workers = workers;
  if (tls) so.tls = tls->server;
  FrameServer server(so, [](const Request& r) { return Response{std::vector<float>(10, float(r.id % 3))}; });
  size_t n = 1;
  for (int64_t d : shape) n *= size_t(d);
  const WireTensor payload = encode_floats(activation(n), shape, WireEncoding::Fp32);

  std::atomic<bool> go{false}, stop{false};
  std::vector<std::vector<double>> lat(static_cast<size_t>(clients));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      ClientOptions co;
      co.port = server.port();
      if (tls) co.tls = tls->client;
      FrameClient client(co);
      try {
        client.health();  // connected (and handshaken) before the clock starts
      } catch (const Error&) {
        ++failures;
        return;
      }
      while (!go.load()) std::this_thread::yield();
      while (!stop.load()) {
        double t = now_s();
        try {
          client.infer(payload, 0);
        } catch (const Error&) {
          ++failures;
          continue;
        }
        lat[size_t(c)].push_back((now_s() - t) * 1e3);
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  double t0 = now_s();
  go = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double elapsed = now_s() - t0;
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Run r;
  r.requests = all.size();
  r.failures = failures.load();
  r.rps = double(all.size()) / elapsed;
  if (!all.empty()) {
    r.p50 = quantile_sorted(all, 0.5);
    r.p99 = quantile_sorted(all, 0.99);
  }
  return r;
}

// A new connection's cost to the device: connect (+ handshake) + one health round trip, median of `count`.
double connect_ms(int count, const Tls* tls) {
  ServerOptions so;
  if (tls) so.tls = tls->server;
  FrameServer server(so, [](const Request&) { return Response{}; });
  std::vector<double> ms;
  for (int i = 0; i < count; ++i) {
    ClientOptions co;
    co.port = server.port();
    if (tls) co.tls = tls->client;
    double t = now_s();
    FrameClient client(co);
    client.health();
    ms.push_back((now_s() - t) * 1e3);
  }
  std::sort(ms.begin(), ms.end());
  return quantile_sorted(ms, 0.5);
}

Tls load_tls(std::string certs) {
  namespace fs = std::filesystem;
  if (certs.empty()) {
    certs = (fs::temp_directory_path() / ("nasc_bench_certs_" + std::to_string(::getpid()))).string();
    const std::string cmd = std::string("'" NASC_SOURCE_DIR "/scripts/make-certs.sh' '") + certs + "' > /dev/null";
    if (std::system(cmd.c_str()) != 0) fail("scripts/make-certs.sh failed: give --certs DIR");
  }
  return {std::make_shared<TlsContext>(TlsRole::Server, TlsOptions::from_dir(certs, "server")),
          std::make_shared<TlsContext>(TlsRole::Client, TlsOptions::from_dir(certs, "device"))};
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 1.0;
  std::vector<int> clients = {1, 8, 32};
  std::vector<int64_t> shape = {16, 8, 8};
  std::vector<int64_t> codec_shape = {32, 16, 16};
  int workers = 0;
  int reps = 2000;
  int connects = 200;
  std::string certs;
  CLI::App app{"Loopback throughput of the NASC frame server, plaintext and TLS, and cost of payload encoding"};
  app.add_option("--seconds", seconds, "Measuring time per client count and transport")->capture_default_str();
  app.add_option("--clients", clients, "Concurrent client counts")->capture_default_str();
  app.add_option("--shape", shape, "Request payload shape (fp32)")->capture_default_str();
  app.add_option("--codec-shape", codec_shape, "Activation shape for the encode/decode timing")->capture_default_str();
  app.add_option("--workers", workers, "Server handler workers (0 = one per core)")->capture_default_str();
  app.add_option("--reps", reps, "Repetitions of the codec timing")->capture_default_str();
  app.add_option("--connects", connects, "New connections timed for the handshake cost")->capture_default_str();
  app.add_option("--certs", certs, "Certificates from scripts/make-certs.sh (default: made in a temporary directory)")
      ->check(CLI::ExistingDirectory);
  CLI11_PARSE(app, argc, argv);
  try {
    bench_codec(codec_shape, reps);
    const Tls tls = load_tls(certs);
    std::printf("new connection (connect + handshake + one health round trip), median of %d:\n", connects);
    const double plain_ms = connect_ms(connects, nullptr), tls_ms = connect_ms(connects, &tls);
    std::printf("  plaintext %.3f ms   TLS 1.3 mutual (ECDSA P-256) %.3f ms   handshake +%.3f ms\n", plain_ms, tls_ms,
                tls_ms - plain_ms);
    size_t n = 1;
    for (int64_t d : shape) n *= size_t(d);
    size_t frame_bytes = encode_frame(make_request(0, encode_floats(activation(n), shape, WireEncoding::Fp32), 0)).size();
    std::printf("loopback, trivial handler, %s fp32 request (%zu-byte frame), %.1f s each:\n",
                format_shape(shape).c_str(), frame_bytes, seconds);
    std::printf("  %7s | %10s %9s %9s | %10s %9s %9s | %s\n", "clients", "plain r/s", "p50 ms", "p99 ms", "TLS r/s",
                "p50 ms", "p99 ms", "TLS added p50");
    for (int c : clients) {
      const Run p = bench_server(c, seconds, shape, workers, nullptr);
      const Run t = bench_server(c, seconds, shape, workers, &tls);
      std::printf("  %7d | %10.0f %9.3f %9.3f | %10.0f %9.3f %9.3f | %+.3f ms%s\n", c, p.rps, p.p50, p.p99, t.rps,
                  t.p50, t.p99, t.p50 - p.p50, p.failures + t.failures ? "  (failures!)" : "");
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_server_throughput: %s\n", e.what());
    return 1;
  }
  return 0;
}
