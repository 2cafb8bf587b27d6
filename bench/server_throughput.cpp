// Transport cost without a network in the way: requests/s and latency of FrameServer + FrameClient on loopback
// with a trivial handler at several client counts, and the per-request cost of encoding and framing a payload.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/stats.h"
#include "deploy/client.h"
#include "deploy/protocol.h"
#include "deploy/server.h"

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
    for (int r = 0; r < reps; ++r) bytes = encode_frame(make_request(uint64_t(r), encode_floats(v, shape, enc))).size();
    double t1 = now_s();
    std::vector<uint8_t> frame = encode_frame(make_request(1, encode_floats(v, shape, enc)));
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

void bench_server(int clients, double seconds, const std::vector<int64_t>& shape, int workers) {
  ServerOptions so;
  so.max_connections = std::max(64, clients * 2);
  so.workers = workers;
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
      FrameClient client(co);
      try {
        client.health();  // connected before the clock starts
      } catch (const Error&) {
        ++failures;
        return;
      }
      while (!go.load()) std::this_thread::yield();
      while (!stop.load()) {
        double t = now_s();
        try {
          client.infer(payload);
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
  std::printf("  %3d clients: %9.0f req/s   latency p50 %.3f ms  p99 %.3f ms   (%zu requests, %d failures)\n",
              clients, double(all.size()) / elapsed, quantile_sorted(all, 0.5), quantile_sorted(all, 0.99), all.size(), failures.load());
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 1.0;
  std::vector<int> clients = {1, 8, 32};
  std::vector<int64_t> shape = {16, 8, 8};
  std::vector<int64_t> codec_shape = {32, 16, 16};
  int workers = 0;
  int reps = 2000;
  CLI::App app{"Loopback throughput of the NASC frame server and cost of payload encoding"};
  app.add_option("--seconds", seconds, "Measuring time per client count")->capture_default_str();
  app.add_option("--clients", clients, "Concurrent client counts")->capture_default_str();
  app.add_option("--shape", shape, "Request payload shape (fp32)")->capture_default_str();
  app.add_option("--codec-shape", codec_shape, "Activation shape for the encode/decode timing")->capture_default_str();
  app.add_option("--workers", workers, "Server handler workers (0 = one per core)")->capture_default_str();
  app.add_option("--reps", reps, "Repetitions of the codec timing")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    bench_codec(codec_shape, reps);
    size_t n = 1;
    for (int64_t d : shape) n *= size_t(d);
    size_t frame_bytes = encode_frame(make_request(0, encode_floats(activation(n), shape, WireEncoding::Fp32))).size();
    std::printf("loopback, trivial handler, %s fp32 request (%zu-byte frame), %.1f s each:\n",
                format_shape(shape).c_str(), frame_bytes, seconds);
    for (int c : clients) bench_server(c, seconds, shape, workers);
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_server_throughput: %s\n", e.what());
    return 1;
  }
  return 0;
}
