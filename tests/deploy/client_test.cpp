// The client transport against servers that restart, die mid-request, stay silent or are absent, and the link
// emulator's timing (generous tolerances: the test machine is shared).
#include "deploy/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "common/error.h"
#include "deploy/link_emulator.h"
#include "deploy_test_util.h"

namespace nasc {
namespace {

using namespace nasc::test;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// A fake server that accepts connections and treats each with `act` until stopped.
class FakeServer {
 public:
  explicit FakeServer(std::function<void(Socket&)> act)
      : listener_(Listener::open("127.0.0.1", 0)), thread_([this, act] {
          std::vector<Socket> held;
          while (!stop_) {
            Socket s = listener_.accept(deadline_in_ms(20));
            if (!s.valid()) continue;
            act(s);
            held.push_back(std::move(s));  // closed only when the fake server goes
          }
        }) {}
  ~FakeServer() {
    stop_ = true;
    thread_.join();
  }
  uint16_t port() const { return listener_.port(); }

 private:
  Listener listener_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(FrameClient, ReconnectsWhenTheServerRestarts) {
  LogSink log;
  ServerOptions o = test_server_options(log);
  auto server = std::make_unique<FrameServer>(o, sum_handler);
  uint16_t port = server->port();
  ClientOptions co = test_client_options(port);
  co.max_attempts = 5;
  co.backoff_initial_ms = 20;
  FrameClient c(co);
  EXPECT_EQ(c.infer(good_payload(), 0).attempts, 1);
  server.reset();  // closes the client's connection
  o.port = port;
  server = std::make_unique<FrameServer>(o, sum_handler);
  Reply r = c.infer(good_payload(), 0);
  EXPECT_FLOAT_EQ(r.scores[0], 16.f);
  EXPECT_GE(r.attempts, 2);  // the first try found the old connection closed
}

TEST(FrameClient, KeepsTryingUntilItsDeadlineWhileTheServerIsDown) {
  LogSink log;
  ServerOptions o = test_server_options(log);
  auto server = std::make_unique<FrameServer>(o, sum_handler);
  o.port = server->port();
  ClientOptions co = test_client_options(o.port);
  co.max_attempts = 0;  // the default: as many tries as the deadline allows
  co.request_timeout_ms = 8000;
  co.backoff_initial_ms = 20;
  co.backoff_max_ms = 200;
  FrameClient c(co);
  EXPECT_EQ(c.infer(good_payload(), 0).attempts, 1);
  server.reset();
  std::thread restart([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));  // refused connections meanwhile
    server = std::make_unique<FrameServer>(o, sum_handler);
  });
  auto t0 = Clock::now();
  Reply r = c.infer(good_payload(), 0);
  restart.join();
  EXPECT_FLOAT_EQ(r.scores[0], 16.f);
  EXPECT_GE(ms_since(t0), 600.0);
  EXPECT_GE(r.attempts, 4);  // 20 + 40 + 80 ms of back-off fit before the restart, and more
}

TEST(FrameClient, ServerDyingMidRequestIsAClearErrorWithinTheTimeout) {
  FakeServer dies([](Socket& s) {
    uint8_t hdr[kHeaderBytes];
    s.recv_exact(hdr, sizeof hdr, deadline_in_ms(1000));
    s.close();  // reads the request, then goes away without a reply
  });
  ClientOptions co = test_client_options(dies.port());
  co.max_attempts = 3;
  co.backoff_initial_ms = 10;
  co.request_timeout_ms = 3000;
  FrameClient c(co);
  auto t0 = Clock::now();
  std::string err = error_of([&] { c.infer(good_payload(), 0); });
  EXPECT_LT(ms_since(t0), 3000.0);
  EXPECT_NE(err.find("closed the connection before replying"), std::string::npos) << err;
  EXPECT_NE(err.find("3 tries"), std::string::npos) << err;
  EXPECT_NE(err.find(std::to_string(dies.port())), std::string::npos) << err;
}

TEST(FrameClient, SilentServerTimesOut) {
  FakeServer silent([](Socket&) {});
  ClientOptions co = test_client_options(silent.port());
  co.request_timeout_ms = 300;
  co.max_attempts = 3;
  FrameClient c(co);
  auto t0 = Clock::now();
  std::string err = error_of([&] { c.infer(good_payload(), 0); });
  double ms = ms_since(t0);
  EXPECT_GE(ms, 290.0);
  EXPECT_LT(ms, 1500.0);
  EXPECT_NE(err.find("no reply within 300 ms"), std::string::npos) << err;
  EXPECT_FALSE(c.connected());
}

TEST(FrameClient, AbsentServerFailsAfterBoundedTries) {
  uint16_t port;
  {
    Listener l = Listener::open("127.0.0.1", 0);
    port = l.port();
  }  // nothing listens there any more
  ClientOptions co = test_client_options(port);
  co.max_attempts = 3;
  co.backoff_initial_ms = 20;
  FrameClient c(co);
  auto t0 = Clock::now();
  std::string err = error_of([&] { c.health(); });
  EXPECT_LT(ms_since(t0), 1500.0);
  EXPECT_GE(ms_since(t0), 55.0);  // two back-offs: 20 + 40 ms
  EXPECT_NE(err.find("refused"), std::string::npos) << err;
  EXPECT_NE(err.find("3 tries"), std::string::npos) << err;
}

TEST(FrameClient, ServerRefusalNamesTheExpectation) {
  LogSink log;
  FrameServer server(test_server_options(log), sum_handler);
  FrameClient c(test_client_options(server.port()));
  std::string err = error_of([&] {
    c.infer(encode_floats(std::vector<float>(8, 1.f), {2, 2, 2}, WireEncoding::Fp32), 0);
  });
  EXPECT_NE(err.find("wrong_shape"), std::string::npos) << err;
  EXPECT_NE(err.find("[2,4,4]"), std::string::npos) << err;
  EXPECT_FALSE(c.connected());
  EXPECT_EQ(c.infer(good_payload(), 0).scores.size(), 2u);  // reconnects for the next call
}

TEST(FrameClient, RejectsInvalidOptions) {
  ClientOptions co;
  EXPECT_THROW(FrameClient{co}, Error);  // no port
  co.port = 1;
  co.max_attempts = -1;
  EXPECT_THROW(FrameClient{co}, Error);
  co.max_attempts = 1;
  co.link.up_mbps = -1;
  EXPECT_THROW(FrameClient{co}, Error);
}

TEST(TokenBucket, PacesAtTheRateAfterTheBurst) {
  TokenBucket b(/*bytes_per_s=*/1000, /*burst=*/100);
  Clock::time_point t0 = Clock::now() + std::chrono::seconds(1);
  auto ms = [&](Clock::time_point t) { return std::chrono::duration<double, std::milli>(t - t0).count(); };
  EXPECT_NEAR(ms(b.reserve(100, t0)), 0.0, 1e-3);    // the burst leaves at once
  EXPECT_NEAR(ms(b.reserve(50, t0)), 50.0, 1e-3);    // then 1 byte per ms
  EXPECT_NEAR(ms(b.reserve(50, t0)), 100.0, 1e-3);
  // After a long pause the bucket refills only up to its depth.
  Clock::time_point later = t0 + std::chrono::seconds(10);
  EXPECT_EQ(b.reserve(100, later), later);
  Clock::time_point next = b.reserve(10, later);
  EXPECT_NEAR(ms(next) - ms(later), 10.0, 1e-3);
}

TEST(LinkEmulator, SendTakesDelayPlusBytesOverBandwidth) {
  Listener l = Listener::open("127.0.0.1", 0);
  constexpr size_t kBytes = 100 * 1000;
  auto reader = std::async(std::launch::async, [&] {
    Socket s = l.accept(deadline_in_ms(2000));
    std::vector<uint8_t> buf(kBytes);
    return s.valid() && s.recv_exact(buf.data(), buf.size(), deadline_in_ms(3000)) == IoResult::Ok;
  });
  Socket s = Socket::connect("127.0.0.1", l.port(), 1000);
  LinkOptions lo;
  lo.up_mbps = 10;
  lo.delay_ms = 20;
  LinkEmulator link(lo);
  std::vector<uint8_t> data(kBytes, 7);
  auto t0 = Clock::now();
  ASSERT_EQ(link.send(s, data.data(), data.size(), deadline_in_ms(3000)), IoResult::Ok);
  double ms = ms_since(t0);
  EXPECT_TRUE(reader.get());
  double model = lo.model_ms(kBytes, /*up=*/true);  // 20 + 80 ms
  EXPECT_NEAR(model, 100.0, 1e-9);
  EXPECT_GT(ms, model * 0.9);
  EXPECT_LT(ms, model + 60.0);
}

TEST(LinkEmulator, BackToBackMessagesShareTheBandwidth) {
  Listener l = Listener::open("127.0.0.1", 0);
  constexpr size_t kBytes = 50 * 1000;
  auto reader = std::async(std::launch::async, [&] {
    Socket s = l.accept(deadline_in_ms(2000));
    std::vector<uint8_t> buf(2 * kBytes);
    return s.valid() && s.recv_exact(buf.data(), buf.size(), deadline_in_ms(3000)) == IoResult::Ok;
  });
  Socket s = Socket::connect("127.0.0.1", l.port(), 1000);
  LinkOptions lo;
  lo.up_mbps = 10;
  LinkEmulator link(lo);
  std::vector<uint8_t> data(kBytes, 1);
  auto t0 = Clock::now();
  ASSERT_EQ(link.send(s, data.data(), data.size(), deadline_in_ms(3000)), IoResult::Ok);
  ASSERT_EQ(link.send(s, data.data(), data.size(), deadline_in_ms(3000)), IoResult::Ok);
  double ms = ms_since(t0);
  EXPECT_TRUE(reader.get());
  EXPECT_GT(ms, 80.0 * 0.9);  // 100 KB at 10 Mbit/s, whether sent in one message or two
  EXPECT_LT(ms, 80.0 + 60.0);
}

TEST(LinkEmulator, SendGivesUpAtTheDeadline) {
  Listener l = Listener::open("127.0.0.1", 0);
  Socket s = Socket::connect("127.0.0.1", l.port(), 1000);
  LinkOptions lo;
  lo.up_mbps = 1;  // 1 MB would take 8 s
  LinkEmulator link(lo);
  std::vector<uint8_t> data(1000 * 1000, 1);
  auto t0 = Clock::now();
  EXPECT_EQ(link.send(s, data.data(), data.size(), deadline_in_ms(100)), IoResult::Timeout);
  EXPECT_LT(ms_since(t0), 400.0);
  // The bytes never sent are not owed: a small message afterwards goes at the link's pace.
  t0 = Clock::now();
  EXPECT_EQ(link.send(s, data.data(), 1000, deadline_in_ms(1000)), IoResult::Ok);
  EXPECT_LT(ms_since(t0), 100.0);
}

TEST(LinkEmulator, ClientRequestsPayTheEmulatedLink) {
  LogSink log;
  FrameServer server(test_server_options(log), sum_handler);
  ClientOptions co = test_client_options(server.port());
  co.link.up_mbps = 1;  // the 192-byte request frame: ~1.5 ms on the wire
  co.link.down_mbps = 1;
  co.link.delay_ms = 15;
  FrameClient c(co);
  Reply r = c.infer(good_payload(), 0);
  double up = co.link.model_ms(r.request_bytes, true), down = co.link.model_ms(r.reply_bytes, false);
  EXPECT_GT(r.uplink_ms, up * 0.9);
  EXPECT_GT(r.round_trip_ms, (up + down) * 0.9);
  EXPECT_LT(r.round_trip_ms, up + down + 100.0);
}

}  // namespace
}  // namespace nasc
