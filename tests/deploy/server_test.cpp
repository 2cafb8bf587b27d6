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

std::vector<uint8_t> good_frame(uint64_t id = 1) { return encode_frame(make_request(id, good_payload(), 0)); }

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
    Reply r = c.infer(good_payload(enc), 0);
    ASSERT_EQ(r.scores.size(), 2u);
    EXPECT_NEAR(r.scores[0], 16.f, 0.1f);
    EXPECT_GE(r.round_trip_ms, 0.0);
    EXPECT_EQ(r.attempts, 1);
  }
  json h = c.health();
  EXPECT_EQ(h["status"], "ok");
  EXPECT_EQ(h["protocol"], kProtocolVersion);
  EXPECT_EQ(h["input"][0]["shape"], (std::vector<int64_t>{2, 4, 4}));
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
  b[4] = 1;
  reseal(b);
  out.push_back({"protocol version 1", b, false, ErrorCode::UnsupportedVersion});
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
                                                            WireEncoding::Fp32), 0)),
                 false, ErrorCode::WrongShape});
  // The header alone says the shape is wrong: refused before the body is allocated or waited for.
  b = encode_frame(make_request(3, encode_floats(std::vector<float>(2 * 4 * 6, 1.f), {2, 4, 6},
                                                 WireEncoding::Fp32), 0));
  b.resize(kHeaderBytes);
  out.push_back({"wrong shape, body never sent", b, false, ErrorCode::WrongShape});
  std::vector<uint8_t> px(32, 1);
  out.push_back({"wrong encoding", encode_frame(make_request(3, encode_raw(px, {2, 4, 4}), 0)), false,
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
  ASSERT_NO_THROW(steady.infer(good_payload(), 0));

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
    ASSERT_NO_THROW(steady.infer(good_payload(), 0));
  }
  EXPECT_EQ(steady.stats()["errors"]["bad_magic"], 2);
}

// A server holding the tails of splits 3 and 5 runs each request at the split it names, and refuses a split it
// does not hold from the header alone (the body is never sent).
TEST(FrameServer, RequestsAreServedAtTheSplitTheyNameAndOthersRefusedFromTheHeader) {
  LogSink log;
  ServerOptions o = test_server_options(log);
  o.input.cuts = {{3, {2, 4, 4}, {WireEncoding::Fp32}}, {5, {8}, {WireEncoding::Fp32}}};
  FrameServer server(o, [](const Request& r) { return Response{{float(r.split)}}; });
  FrameClient c(test_client_options(server.port()));
  EXPECT_EQ(c.infer(good_payload(), 3).scores, std::vector<float>{3.f});
  EXPECT_EQ(c.infer(encode_floats(std::vector<float>(8, 1.f), {8}, WireEncoding::Fp32), 5).scores,
            std::vector<float>{5.f});
  std::vector<uint8_t> b = encode_frame(make_request(7, good_payload(), 4));
  b.resize(kHeaderBytes);
  Socket s = Socket::connect("127.0.0.1", server.port(), 1000);
  ASSERT_EQ(s.send_all(b.data(), b.size(), deadline_in_ms(1000)), IoResult::Ok);
  Frame reply;
  ASSERT_TRUE(read_frame(s, 2000, reply).ok());
  EXPECT_EQ(ErrorCode(reply.status), ErrorCode::UnknownSplit);
  EXPECT_EQ(decode_text(reply.tensor), "split 4 is not served here: expected one of 3|5");
  EXPECT_TRUE(closed_by_peer(s, 2000));
  // The shape is checked against the named split's cut.
  EXPECT_THROW(c.infer(good_payload(), 5), Error);
  EXPECT_EQ(server.stats().errors[size_t(ErrorCode::WrongShape)], 1u);
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
    c.infer(good_payload(), 0);
    FAIL() << "expected the handler's error";
  } catch (const Error& e) {
    // The client gets a generic reason; the handler's own text (which may hold paths and backtraces) is logged.
    EXPECT_NE(std::string(e.what()).find("handler_failed: the server could not compute"), std::string::npos)
        << e.what();
    EXPECT_EQ(std::string(e.what()).find("on purpose"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(log.contains("tail failed on purpose"));
  EXPECT_TRUE(c.connected());
  EXPECT_EQ(c.infer(good_payload(), 0).scores.size(), 2u);
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
      c.infer(bad[i], 0);
      ADD_FAILURE() << "payload " << i << " was answered";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("non_finite"), std::string::npos) << i << ": " << e.what();
    }
    EXPECT_TRUE(c.connected()) << i;
  }
  EXPECT_EQ(calls.load(), 0) << "the tail must not run on a non-finite payload";
  EXPECT_EQ(server.stats().errors[size_t(ErrorCode::NonFinite)], bad.size());
  EXPECT_EQ(c.infer(good_payload(), 0).scores.size(), 2u);
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
      for (int k = 0; k < 3; ++k) ok += c.infer(good_payload(), 0).scores.size() == 2;
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

TEST(FrameServer, ConnectionsPastTheCapAreTurnedAwayWhenAllAreBusy) {
  LogSink log;
  ServerOptions o = test_server_options(log);
  o.max_connections = 2;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> inside{0};
  FrameServer server(o, [&](const Request& r) {
    ++inside;
    released.wait_for(std::chrono::seconds(5));
    return sum_handler(r);
  });
  auto busy = [&] {
    return std::async(std::launch::async, [&] {
      FrameClient c(test_client_options(server.port()));
      return c.infer(good_payload(), 0).scores[0];
    });
  };
  auto a = busy(), b = busy();
  for (int i = 0; i < 200 && inside.load() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(inside.load(), 2);  // both connections are in the handler: none can be evicted
  Socket extra = Socket::connect("127.0.0.1", server.port(), 1000);
  Frame reply;
  ASSERT_TRUE(read_frame(extra, 2000, reply).ok());
  EXPECT_EQ(ErrorCode(reply.status), ErrorCode::Overloaded);
  EXPECT_NE(decode_text(reply.tensor).find("busy"), std::string::npos);
  EXPECT_TRUE(closed_by_peer(extra, 2000));
  EXPECT_EQ(server.stats().rejected, 1u);
  EXPECT_EQ(server.stats().evicted, 0u);
  release.set_value();
  EXPECT_FLOAT_EQ(a.get(), 16.f);
  EXPECT_FLOAT_EQ(b.get(), 16.f);
  expect_serves(server.port());  // an idle slot is taken back for the newcomer
}

TEST(FrameServer, SilentConnectionsAreEvictedOldestFirstWhenFull) {
  LogSink log;
  ServerOptions o = test_server_options(log);
  o.max_connections = 3;
  FrameServer server(o, sum_handler);
  FrameClient regular(test_client_options(server.port()));  // has been served, idle between requests
  regular.infer(good_payload(), 0);
  Socket oldest = Socket::connect("127.0.0.1", server.port(), 1000);  // connect and never send a byte
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Socket newer = Socket::connect("127.0.0.1", server.port(), 1000);
  for (int i = 0; i < 100 && server.stats().active < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(server.stats().active, 3u);

  FrameClient first(test_client_options(server.port()));
  EXPECT_NO_THROW(first.infer(good_payload(), 0));  // the server is full of idle connections: the oldest silent one makes room
  Frame bye;
  ASSERT_TRUE(read_frame(oldest, 2000, bye).ok());
  EXPECT_EQ(ErrorCode(bye.status), ErrorCode::Overloaded);
  EXPECT_NE(decode_text(bye.tensor).find("make room"), std::string::npos);
  EXPECT_TRUE(closed_by_peer(oldest, 2000));
  FrameClient second(test_client_options(server.port()));
  EXPECT_NO_THROW(second.infer(good_payload(), 0));  // then the newer silent one, before the clients that were served
  ASSERT_TRUE(read_frame(newer, 2000, bye).ok());
  EXPECT_EQ(ErrorCode(bye.status), ErrorCode::Overloaded);
  EXPECT_NO_THROW(regular.infer(good_payload(), 0));  // still connected, or reconnects past the goodbye
  ServerStats st = server.stats();
  EXPECT_GE(st.evicted, 2u);
  EXPECT_EQ(st.rejected, 0u);
}

TEST(FrameServer, GoodClientsAreAllAnsweredWhileSilentConnectionsAndBadFramesFloodIt) {
  LogSink log;
  ServerOptions o = test_server_options(log);
  o.max_connections = 16;
  o.workers = 4;
  FrameServer server(o, sum_handler);
  std::atomic<bool> attacking{true};
  // An attacker that keeps 24 silent connections open (more than the cap), reopening any the server closes,
  // and another that sends a bad frame on a fresh connection again and again.
  std::thread silent([&] {
    std::vector<Socket> held(24);
    while (attacking.load()) {
      for (Socket& s : held) {
        if (s.valid() && s.wait_readable(deadline_in_ms(0)) == IoResult::Timeout) continue;  // still held open
        try {
          s = Socket::connect("127.0.0.1", server.port(), 200);
        } catch (const Error&) {
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::thread garbage([&] {
    const std::vector<uint8_t> bad = abuses().front().bytes;
    while (attacking.load()) {
      try {
        Socket s = Socket::connect("127.0.0.1", server.port(), 200);
        s.send_all(bad.data(), bad.size(), deadline_in_ms(200));
        closed_by_peer(s, 500);
      } catch (const Error&) {
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the server is full of silent connections
  constexpr int kClients = 8, kRequests = 10;
  std::vector<std::future<int>> good;
  for (int c = 0; c < kClients; ++c)
    good.push_back(std::async(std::launch::async, [&] {
      ClientOptions co = test_client_options(server.port());
      co.max_attempts = 6;  // an idle good client may be evicted too; it reconnects
      FrameClient client(co);
      int answered = 0;
      for (int i = 0; i < kRequests; ++i) answered += client.infer(good_payload(), 0).scores[0] == 16.f;
      return answered;
    }));
  int answered = 0;
  for (auto& f : good) answered += f.get();
  attacking = false;
  silent.join();
  garbage.join();
  EXPECT_EQ(answered, kClients * kRequests);
  EXPECT_GT(server.stats().evicted, 0u);
}

TEST(FrameServer, ConnectionsThatNeverBeginAFrameAreClosedAtTheFirstFrameDeadline) {
  LogSink log;
  ServerOptions o = test_server_options(log);
  o.first_frame_timeout_ms = 150;  // idle timeout stays 5 s
  FrameServer server(o, sum_handler);
  Socket silent = Socket::connect("127.0.0.1", server.port(), 1000);
  auto t0 = Clock::now();
  EXPECT_TRUE(closed_by_peer(silent, 3000));
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_LT(s, 2.0);
  EXPECT_GE(s, 0.1);
  // A served connection waits the idle timeout, not the first-frame one.
  FrameClient c(test_client_options(server.port()));
  c.infer(good_payload(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_TRUE(c.connected());
  Reply r = c.infer(good_payload(), 0);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(server.stats().idle_closed, 1u);
}

TEST(FrameServer, RefusalLogIsRateLimitedAndCountsWhatItLeftOut) {
  LogSink log;
  ServerOptions o = test_server_options(log);
  o.log_burst = 5;
  o.log_per_second = 4;  // slow enough that a flood outruns it even on a slow CI machine
  FrameServer server(o, sum_handler);
  const std::string junk = "GET / HTTP/1.1\r\n" + std::string(64, 'x');
  auto flood = [&](int n) {
    for (int i = 0; i < n; ++i) {
      Socket s = Socket::connect("127.0.0.1", server.port(), 1000);
      s.send_all(junk.data(), junk.size(), deadline_in_ms(1000));
      closed_by_peer(s, 2000);
    }
  };
  auto t0 = Clock::now();
  flood(40);
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  size_t logged = log.lines().size();
  EXPECT_LE(double(logged), 5 + 4 * s + 1);  // the burst plus what the rate refilled meanwhile
  EXPECT_EQ(server.stats().errors[size_t(ErrorCode::BadMagic)], 40u);  // every refusal is still counted
  uint64_t left_out = server.stats().log_suppressed;
  EXPECT_EQ(logged + left_out, 40u);
  ASSERT_GT(left_out, 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // refills at least one token
  flood(1);
  // Whichever lines got through (a token may have refilled mid-flood), the counts they carry add up to
  // every line left out: nothing is lost silently.
  const std::string tag = " earlier lines suppressed";
  uint64_t reported = 0;
  for (const std::string& line : log.lines()) {
    size_t at = line.find(tag);
    if (at == std::string::npos) continue;
    size_t open = line.rfind('(', at);
    ASSERT_NE(open, std::string::npos) << line;
    reported += std::stoull(line.substr(open + 1, at - open - 1));
  }
  EXPECT_EQ(reported, left_out);
}

TEST(FrameServer, StopTellsIdleClientsItIsShuttingDown) {
  LogSink log;
  FrameServer server(test_server_options(log), sum_handler);
  Socket idle = Socket::connect("127.0.0.1", server.port(), 1000);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  server.request_stop();
  Frame bye;
  ASSERT_TRUE(read_frame(idle, 2000, bye).ok());
  EXPECT_EQ(ErrorCode(bye.status), ErrorCode::ShuttingDown);
  EXPECT_TRUE(closed_by_peer(idle, 2000));
  server.wait();
}

TEST(FrameServerDeathTest, SecondStopSignalExitsWithoutWaitingForRequestsInFlight) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto scenario = [] {
    LogSink log;
    std::promise<void> entered;
    FrameServer server(test_server_options(log), [&](const Request& r) -> Response {
      entered.set_value();
      std::this_thread::sleep_for(std::chrono::seconds(30));  // a request the drain would wait for
      return sum_handler(r);
    });
    stop_on_signals(&server);
    std::thread client([port = server.port()] {
      try {
        FrameClient c(test_client_options(port));
        c.infer(good_payload(), 0);
      } catch (...) {
      }
    });
    client.detach();
    entered.get_future().wait();
    std::raise(SIGTERM);  // the drain begins and waits for the handler
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!server.stopping()) std::_Exit(3);
    std::raise(SIGTERM);
    std::_Exit(4);  // not reached when the second signal exits
  };
  EXPECT_EXIT(scenario(), ::testing::ExitedWithCode(128 + SIGTERM), "second stop signal");
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
  idle.infer(good_payload(), 0);
  block = true;  // the next request stays in the handler until released

  auto in_flight = std::async(std::launch::async, [&] {
    FrameClient c(test_client_options(port));
    return c.infer(good_payload(), 0);
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
