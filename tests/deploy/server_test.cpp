// A live FrameServer on an ephemeral port: good traffic, one connection per kind of bad frame (each must close
// only that connection and leave the server serving), concurrency, the connection cap and shutdown.
#include "deploy/server.h"

#include <gtest/gtest.h>

#include <limits>
#include <zlib.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <future>
#include <random>
#include <csignal>
#include <thread>

#include "common/error.h"
#include "deploy_test_util.h"

namespace nasc {
namespace {

using namespace nasc::test;

std::vector<uint8_t> good_frame(uint64_t id = 1) { return encode_frame(make_request(id, good_payload())); }

void put32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = uint8_t(v >> (8 * i));
}
void reseal(std::vector<uint8_t>& b) { put32(b, 60, uint32_t(crc32(crc32(0L, Z_NULL, 0), b.data(), 60))); }

TEST(FrameServer, AnswersRequestsHealthAndStats) {
  LogSink log;
  FrameServer server(test_server_options(log), sum_handler);
  ASSERT_NE(server.port(), 0);
  FrameClient c(test_client_options(server.port()));
  for (WireEncoding enc : {WireEncoding::Fp32, WireEncoding::Fp16, WireEncoding::Int8}) {
    Reply r = c.infer(good_payload(enc));
    ASSERT_EQ(r.scores.size(), 2u);
    EXPECT_NEAR(r.scores[0], 16.f, 0.1f);
    EXPECT_GE(r.round_trip_ms, 0.0);
    EXPECT_EQ(r.attempts, 1);
  }
  json h = c.health();
  EXPECT_EQ(h["status"], "ok");
  EXPECT_EQ(h["protocol"], kProtocolVersion);
  EXPECT_EQ(h["input"]["shape"], (std::vector<int64_t>{2, 4, 4}));
  json s = c.stats();
  EXPECT_EQ(s["requests"], 3);
  EXPECT_EQ(s["health"], 1);
  EXPECT_EQ(s["error_total"], 0);
  EXPECT_GT(s["service_ms"]["mean"].get<double>(), 0.0);
  EXPECT_GE(s["service_ms"]["p95"].get<double>(), s["service_ms"]["p50"].get<double>());
  EXPECT_TRUE(log.lines().empty());
}

struct Abuse {
  const char* name;
  std::vector<uint8_t> bytes;
  bool close_write;  // half-close after sending (a client that gives up mid-frame)
  ErrorCode expected;
};

std::vector<Abuse> abuses() {
  std::vector<Abuse> out;
  std::vector<uint8_t> b = good_frame();
  std::string http = "GET / HTTP/1.1\r\nHost: example\r\n" + std::string(64, 'x');
  out.push_back({"bad magic", std::vector<uint8_t>(http.begin(), http.end()), false, ErrorCode::BadMagic});
  b = good_frame();
  b[4] = 9;
  out.push_back({"wrong version", b, false, ErrorCode::UnsupportedVersion});
  b = good_frame();
  put32(b, 52, 1u << 31);  // declares a 2 GiB body; only the header is sent
  reseal(b);
  b.resize(kHeaderBytes);
  out.push_back({"oversized length", b, false, ErrorCode::TooLarge});
  b = good_frame();
  b.resize(kHeaderBytes + 20);
  out.push_back({"truncated then closed", b, true, ErrorCode::Truncated});
  b = good_frame();
  b.resize(kHeaderBytes + 20);
  out.push_back({"truncated then stalled", b, false, ErrorCode::Truncated});
  b = good_frame();
  b.resize(30);
  out.push_back({"header cut short", b, true, ErrorCode::Truncated});
  out.push_back({"wrong shape",
                 encode_frame(make_request(3, encode_floats(std::vector<float>(2 * 4 * 5, 1.f), {2, 4, 5},
                                                            WireEncoding::Fp32))),
                 false, ErrorCode::WrongShape});
  // The header alone says the shape is wrong: refused before the body is allocated or waited for.
  b = encode_frame(make_request(3, encode_floats(std::vector<float>(2 * 4 * 6, 1.f), {2, 4, 6},
                                                 WireEncoding::Fp32)));
  b.resize(kHeaderBytes);
  out.push_back({"wrong shape, body never sent", b, false, ErrorCode::WrongShape});
  std::vector<uint8_t> px(32, 1);
  out.push_back({"wrong encoding", encode_frame(make_request(3, encode_raw(px, {2, 4, 4}))), false,
                 ErrorCode::WrongShape});
  b = good_frame();
  b[kHeaderBytes + 5] ^= 0x10;
  out.push_back({"checksum mismatch", b, false, ErrorCode::BadBodyChecksum});
  out.push_back({"reply type from a client", encode_frame(make_response(4, {1.f}, 0)), false,
                 ErrorCode::UnexpectedType});
  std::mt19937 rng(7);
  std::vector<uint8_t> noise(4096);
  for (uint8_t& x : noise) x = uint8_t(rng());
  out.push_back({"random bytes", noise, false, ErrorCode::BadMagic});
  return out;
}

TEST(FrameServer, BadFrameClosesOnlyItsConnection) {
  LogSink log;
  FrameServer server(test_server_options(log), sum_handler);
  // A client connected before the abuse keeps its connection through all of it.
  FrameClient steady(test_client_options(server.port()));
  ASSERT_NO_THROW(steady.infer(good_payload()));

  uint64_t expected_errors = 0;
  for (const Abuse& a : abuses()) {
    SCOPED_TRACE(a.name);
    Socket s = Socket::connect("127.0.0.1", server.port(), 1000);
    ASSERT_EQ(s.send_all(a.bytes.data(), a.bytes.size(), deadline_in_ms(1000)), IoResult::Ok);
    if (a.close_write) s.shutdown_write();
    Frame reply;
    FrameStatus st = read_frame(s, 2000, reply);
    ASSERT_TRUE(st.ok()) << st.message;
    EXPECT_EQ(reply.type, MsgType::Error);
    EXPECT_EQ(ErrorCode(reply.status), a.expected) << decode_text(reply.tensor);
    EXPECT_FALSE(decode_text(reply.tensor).empty());
    EXPECT_TRUE(closed_by_peer(s, 2000));
    ++expected_errors;

    EXPECT_TRUE(log.contains(error_code_name(a.expected)));
    ServerStats stats = server.stats();
    EXPECT_EQ(stats.error_total(), expected_errors);
    EXPECT_GE(stats.errors[size_t(a.expected)], 1u);
    expect_serves(server.port());
    ASSERT_NO_THROW(steady.infer(good_payload()));
  }
  EXPECT_EQ(steady.stats()["errors"]["bad_magic"], 2);
}

TEST(FrameServer, HandlerErrorKeepsTheConnection) {
  LogSink log;
  std::atomic<int> calls{0};
  FrameServer server(test_server_options(log), [&](const Request& r) {
    if (calls++ == 0) fail("tail failed on purpose");
    return sum_handler(r);
  });
  FrameClient c(test_client_options(server.port()));
  try {
    c.infer(good_payload());
    FAIL() << "expected the handler's error";
  } catch (const Error& e) {
    // The client gets a generic reason; the handler's own text (which may hold paths and backtraces) is logged.
    EXPECT_NE(std::string(e.what()).find("handler_failed: the server could not compute"), std::string::npos)
        << e.what();
    EXPECT_EQ(std::string(e.what()).find("on purpose"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(log.contains("tail failed on purpose"));
  EXPECT_TRUE(c.connected());
  EXPECT_EQ(c.infer(good_payload()).scores.size(), 2u);
  EXPECT_EQ(server.stats().errors[size_t(ErrorCode::HandlerFailed)], 1u);
}

// NaN and Inf, in every float encoding, and an int8 scale whose levels decode past the float range: each refused
// with non_finite before the tail runs, the connection kept, good requests still answered.
TEST(FrameServer, NonFinitePayloadsAreRefusedWithTheirOwnCode) {
  LogSink log;
  std::atomic<int> calls{0};
  FrameServer server(test_server_options(log), [&](const Request& r) {
    ++calls;
    return sum_handler(r);
  });
  FrameClient c(test_client_options(server.port()));
  std::vector<WireTensor> bad;
  for (float v : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()})
    for (WireEncoding enc : {WireEncoding::Fp32, WireEncoding::Fp16}) {
      std::vector<float> values(2 * 4 * 4, 0.5f);
      values[7] = v;
      bad.push_back(encode_floats(values, {2, 4, 4}, enc));
    }
  WireTensor huge = good_payload(WireEncoding::Int8);
  huge.scale = 3e38f;
  bad.push_back(huge);
  for (size_t i = 0; i < bad.size(); ++i) {
    try {
      c.infer(bad[i]);
      ADD_FAILURE() << "payload " << i << " was answered";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("non_finite"), std::string::npos) << i << ": " << e.what();
    }
    EXPECT_TRUE(c.connected()) << i;
  }
  EXPECT_EQ(calls.load(), 0) << "the tail must not run on a non-finite payload";
  EXPECT_EQ(server.stats().errors[size_t(ErrorCode::NonFinite)], bad.size());
  EXPECT_EQ(c.infer(good_payload()).scores.size(), 2u);
  EXPECT_EQ(non_finite_reason(good_payload(WireEncoding::Int8)), "");
  EXPECT_EQ(non_finite_reason(good_payload(WireEncoding::Fp16)), "");
}

TEST(FrameServer, ServesThirtyTwoClientsAtOnce) {
  LogSink log;
  ServerOptions o = test_server_options(log);
  o.workers = 32;
  constexpr int kClients = 32;
  std::mutex mu;
  std::condition_variable cv;
  int inside = 0, most = 0;
  // Each call waits until all 32 are inside the handler together, which only concurrent serving allows.
  FrameServer server(o, [&](const Request& r) {
    std::unique_lock<std::mutex> lock(mu);
    most = std::max(most, ++inside);
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(5), [&] { return most >= kClients; });
    --inside;
    return sum_handler(r);
  });
  std::vector<std::future<int>> results;
  for (int i = 0; i < kClients; ++i)
    results.push_back(std::async(std::launch::async, [&] {
      ClientOptions co = test_client_options(server.port());
      co.request_timeout_ms = 8000;
      FrameClient c(co);
      int ok = 0;
      for (int k = 0; k < 3; ++k) ok += c.infer(good_payload()).scores.size() == 2;
      return ok;
    }));
  int ok = 0;
  for (auto& f : results) ok += f.get();
  EXPECT_EQ(ok, kClients * 3);
  EXPECT_EQ(most, kClients);
  // A reply is counted just after it is written, so the last few may land a moment after the clients return.
  for (int i = 0; i < 200 && server.stats().requests < uint64_t(kClients * 3); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(server.stats().requests, uint64_t(kClients * 3));
  EXPECT_EQ(server.stats().connections, uint64_t(kClients));
}

TEST(FrameServer, ConnectionsPastTheCapAreTurnedAway) {
  LogSink log;
  ServerOptions o = test_server_options(log);
  o.max_connections = 2;
  FrameServer server(o, sum_handler);
  auto a = std::make_unique<FrameClient>(test_client_options(server.port()));
  FrameClient b(test_client_options(server.port()));
  a->infer(good_payload());
  b.infer(good_payload());
  Socket extra = Socket::connect("127.0.0.1", server.port(), 1000);
  Frame reply;
  ASSERT_TRUE(read_frame(extra, 2000, reply).ok());
  EXPECT_EQ(ErrorCode(reply.status), ErrorCode::Overloaded);
  EXPECT_TRUE(closed_by_peer(extra, 2000));
  EXPECT_EQ(server.stats().rejected, 1u);
  a.reset();  // frees a slot
  for (int i = 0; i < 100 && server.stats().active > 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  expect_serves(server.port());
}

TEST(FrameServer, StopFinishesRequestsInFlight) {
  LogSink log;
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> block{false};
  auto server = std::make_unique<FrameServer>(test_server_options(log), [&](const Request& r) {
    if (block.exchange(false)) {
      entered.set_value();
      released.wait_for(std::chrono::seconds(5));
    }
    return sum_handler(r);
  });
  uint16_t port = server->port();
  FrameClient idle(test_client_options(port));  // connected, between requests when the stop comes
  idle.infer(good_payload());
  block = true;  // the next request stays in the handler until released

  auto in_flight = std::async(std::launch::async, [&] {
    FrameClient c(test_client_options(port));
    return c.infer(good_payload());
  });
  ASSERT_EQ(entered.get_future().wait_for(std::chrono::seconds(3)), std::future_status::ready);
  server->request_stop();
  server->request_stop();  // idempotent
  EXPECT_TRUE(server->stopping());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_THROW(Socket::connect("127.0.0.1", port, 500), Error);  // no longer accepting
  release.set_value();
  Reply r = in_flight.get();
  EXPECT_FLOAT_EQ(r.scores[0], 16.f);
  auto t0 = Clock::now();
  server->wait();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 2.0);
  EXPECT_EQ(server->stats().requests, 2u);
  server.reset();
}

TEST(FrameServer, SigtermRequestsAStop) {
  LogSink log;
  FrameServer server(test_server_options(log), sum_handler);
  stop_on_signals(&server);
  expect_serves(server.port());
  std::raise(SIGTERM);
  EXPECT_TRUE(server.stopping());
  server.wait();
  stop_on_signals(nullptr);
}

TEST(FrameServer, RejectsInvalidOptions) {
  LogSink log;
  ServerOptions o = test_server_options(log);
  o.max_connections = 0;
  EXPECT_THROW(FrameServer(o, sum_handler), Error);
  o = test_server_options(log);
  EXPECT_THROW(FrameServer(o, Handler()), Error);
  FrameServer taken(test_server_options(log), sum_handler);
  o.port = taken.port();
  o.host = "127.0.0.1";
  // SO_REUSEADDR does not allow two listeners on one port.
  EXPECT_THROW(FrameServer(o, sum_handler), Error);
}

}  // namespace
}  // namespace nasc
