// TLS 1.3 with mutual authentication between FrameClient and FrameServer, with real certificates that
// scripts/make-certs.sh makes at test time: a good device is served and named, every kind of refusal is told on
// both sides and leaves the server serving, and plaintext is refused where TLS is expected.
#include "deploy/tls.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "deploy_test_util.h"

namespace nasc {
namespace {

namespace fs = std::filesystem;
using namespace nasc::test;

class Tls : public ::testing::Test {
 protected:
  // One CA with a server, a good and an expired device; a second CA with its own device.
  static void SetUpTestSuite() {
    std::string tmpl = (fs::temp_directory_path() / "nasc_tls_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    const std::string script = std::string(NASC_SOURCE_DIR) + "/scripts/make-certs.sh ";
    for (const std::string args : {"good --device device", "good --device old --expired", "other --device impostor"})
      ASSERT_EQ(std::system((script + dir_ + "/" + args + " > /dev/null").c_str()), 0) << args;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string good() { return dir_ + "/good"; }
  static std::shared_ptr<const TlsContext> server_tls() {
    return std::make_shared<TlsContext>(TlsRole::Server, TlsOptions::from_dir(good(), "server"));
  }
  // A device trusting the good CA (so that it would accept the server) with the named certificate of `from`.
  static std::shared_ptr<const TlsContext> device_tls(const std::string& from = good(), const std::string& name = "device",
                                                      const std::string& server_name = "", const std::string& pin = "") {
    TlsOptions o = TlsOptions::from_dir(from, name);
    o.ca_file = good() + "/ca.crt";
    o.server_name = server_name;
    o.pin_sha256 = pin;
    return std::make_shared<TlsContext>(TlsRole::Client, o);
  }

  ServerOptions tls_server_options(LogSink& log) {
    ServerOptions o = test_server_options(log);
    o.tls = server_tls();
    return o;
  }
  static ClientOptions tls_client(uint16_t port, std::shared_ptr<const TlsContext> tls) {
    ClientOptions o = test_client_options(port);
    o.tls = std::move(tls);
    return o;
  }
  // What the device is told when refused, and that the server went on serving a good device afterwards.
  static std::string refusal_of(FrameServer& server, std::shared_ptr<const TlsContext> tls) {
    std::string message;
    try {
      FrameClient bad(tls_client(server.port(), std::move(tls)));
      bad.infer(good_payload(), 0);
    } catch (const Error& e) {
      message = e.what();
    }
    FrameClient ok(tls_client(server.port(), device_tls()));
    EXPECT_NEAR(ok.infer(good_payload(), 0).scores.at(0), 16.f, 1e-4) << "the server stopped serving good devices";
    return message;
  }

  static std::string dir_;
};
std::string Tls::dir_;

TEST_F(Tls, MutuallyAuthenticatedDevicesAreServedAndNamed) {
  LogSink log;
  std::mutex mu;
  std::vector<std::string> peers;
  FrameServer server(tls_server_options(log), [&](const Request& r) {
    std::lock_guard<std::mutex> lock(mu);
    peers.push_back(r.peer);
    return sum_handler(r);
  });
  std::vector<std::thread> devices;
  std::atomic<int> answered{0};
  for (int d = 0; d < 8; ++d)
    devices.emplace_back([&] {
      FrameClient c(tls_client(server.port(), device_tls()));
      for (int i = 0; i < 10; ++i)
        if (std::abs(c.infer(good_payload(), 0).scores.at(0) - 16.f) < 1e-4f) ++answered;
    });
  for (auto& t : devices) t.join();
  EXPECT_EQ(answered.load(), 80);

  FrameClient c(tls_client(server.port(), device_tls()));
  EXPECT_EQ(c.health()["tls"], true);
  EXPECT_EQ(c.server_identity(), "localhost");  // the server certificate's common name
  ASSERT_FALSE(peers.empty());
  for (const std::string& p : peers) EXPECT_EQ(p.rfind("device@127.0.0.1:", 0), 0u) << p;
  EXPECT_EQ(server.stats().tls_refused, 0u);
  EXPECT_TRUE(log.lines().empty());
}

TEST_F(Tls, DeviceWithoutCertificateIsRefused) {
  LogSink log;
  FrameServer server(tls_server_options(log), sum_handler);
  TlsOptions anonymous;
  anonymous.ca_file = good() + "/ca.crt";
  const std::string told = refusal_of(server, std::make_shared<TlsContext>(TlsRole::Client, anonymous));
  EXPECT_NE(told.find("the server refused the TLS session: tlsv13 alert certificate required"), std::string::npos)
      << told;
  EXPECT_TRUE(log.contains("TLS refused: the device sent no certificate")) << log.lines().at(0);
  EXPECT_EQ(server.stats().tls_refused, 1u);
}

TEST_F(Tls, CertificateFromAnotherCaIsRefused) {
  LogSink log;
  FrameServer server(tls_server_options(log), sum_handler);
  const std::string told = refusal_of(server, device_tls(dir_ + "/other", "impostor"));
  EXPECT_NE(told.find("the server refused the TLS session: tlsv1 alert unknown ca"), std::string::npos) << told;
  EXPECT_TRUE(log.contains("the device's certificate was refused: unable to get local issuer certificate (it is "
                           "not signed by the CA in"))
      << log.lines().at(0);
}

TEST_F(Tls, ExpiredCertificateIsRefused) {
  LogSink log;
  FrameServer server(tls_server_options(log), sum_handler);
  const std::string told = refusal_of(server, device_tls(good(), "old"));
  EXPECT_NE(told.find("certificate expired"), std::string::npos) << told;
  EXPECT_TRUE(log.contains("the device's certificate was refused: certificate has expired")) << log.lines().at(0);
}

TEST_F(Tls, WrongServerNameIsRefusedByTheDeviceUnlessPinned) {
  LogSink log;
  FrameServer server(tls_server_options(log), sum_handler);
  const auto t0 = Clock::now();
  const std::string told = refusal_of(server, device_tls(good(), "device", "edge.example"));
  EXPECT_NE(told.find("the server's certificate was refused: hostname mismatch (give the name it was issued for "
                      "with --tls-server-name"),
            std::string::npos)
      << told;
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(1500)) << "a refused certificate must not be retried";
  EXPECT_TRUE(log.contains("TLS refused: the device refused the TLS session")) << log.lines().at(0);

  // A pin replaces the name check: the right fingerprint is served whatever the name, a wrong one refused.
  const std::string pin = certificate_fingerprint(good() + "/server.crt");
  FrameClient pinned(tls_client(server.port(), device_tls(good(), "device", "edge.example", pin)));
  EXPECT_NEAR(pinned.infer(good_payload(), 0).scores.at(0), 16.f, 1e-4);
  const std::string other = certificate_fingerprint(good() + "/device.crt");
  const std::string wrong_pin = refusal_of(server, device_tls(good(), "device", "", other));
  EXPECT_NE(wrong_pin.find("the server's certificate SHA-256 " + pin + " is not the pinned " + other),
            std::string::npos)
      << wrong_pin;
}

TEST_F(Tls, PlaintextIsRefusedOnATlsPortAndTlsOnAPlaintextOne) {
  LogSink log;
  FrameServer server(tls_server_options(log), sum_handler);
  std::string told;
  try {
    FrameClient plain(test_client_options(server.port()));
    plain.infer(good_payload(), 0);
  } catch (const Error& e) {
    told = e.what();
  }
  EXPECT_NE(told.find("refused: tls_required: this server accepts TLS connections only"), std::string::npos) << told;
  EXPECT_TRUE(log.contains("tls_required"));
  {
    Socket raw = Socket::connect("127.0.0.1", server.port(), 1000);
    const char junk[] = "GET / HTTP/1.0\r\n\r\n";
    ASSERT_EQ(raw.send_all(junk, sizeof junk - 1, deadline_in_ms(500)), IoResult::Ok);
    char byte;
    EXPECT_EQ(raw.recv_exact(&byte, 1, deadline_in_ms(1000)), IoResult::Closed);
  }
  EXPECT_TRUE(log.contains("refused: not a TLS handshake (first byte 0x47)"));
  EXPECT_EQ(server.stats().tls_refused, 2u);
  FrameClient ok(tls_client(server.port(), device_tls()));
  EXPECT_NEAR(ok.infer(good_payload(), 0).scores.at(0), 16.f, 1e-4);

  LogSink plain_log;
  FrameServer plain_server(test_server_options(plain_log), sum_handler);
  told.clear();
  try {
    FrameClient c(tls_client(plain_server.port(), device_tls()));
    c.infer(good_payload(), 0);
  } catch (const Error& e) {
    told = e.what();
  }
  EXPECT_NE(told.find("the peer does not speak TLS 1.3"), std::string::npos) << told;
  EXPECT_NE(told.find("is the server running without --tls?"), std::string::npos) << told;
  EXPECT_TRUE(plain_log.contains("a TLS handshake, not a NASC frame: this end runs without TLS"));
}

TEST_F(Tls, ConnectionsThatNeverHandshakeAreClosedByTheFirstFrameTimeout) {
  LogSink log;
  ServerOptions o = tls_server_options(log);
  o.first_frame_timeout_ms = 200;
  FrameServer server(o, sum_handler);
  Socket silent = Socket::connect("127.0.0.1", server.port(), 1000);
  char byte;
  const auto t0 = Clock::now();
  EXPECT_EQ(silent.recv_exact(&byte, 1, deadline_in_ms(3000)), IoResult::Closed);
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(2000));
  EXPECT_EQ(server.stats().idle_closed, 1u);
  EXPECT_TRUE(log.lines().empty());
}

TEST_F(Tls, PlaintextBeyondLoopbackNeedsInsecure) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.3.2.1"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host(""));
  EXPECT_FALSE(is_loopback_host("192.0.2.7"));

  LogSink log;
  ServerOptions o = test_server_options(log);
  o.host = "0.0.0.0";
  try {
    FrameServer s(o, sum_handler);
    ADD_FAILURE() << "a plaintext server bound a wildcard address";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("without TLS: give a certificate (--tls DIR"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("or --insecure"), std::string::npos);
  }
  o.insecure = true;
  EXPECT_NO_THROW(FrameServer(o, sum_handler));
  o.insecure = false;
  o.tls = server_tls();
  EXPECT_NO_THROW(FrameServer(o, sum_handler));

  ClientOptions c = test_client_options(9);
  c.host = "192.0.2.7";
  EXPECT_THROW(FrameClient{c}, Error);
  c.insecure = true;
  EXPECT_NO_THROW(FrameClient{c});
}

TEST_F(Tls, BadFilesAreNamed) {
  auto error_of = [](TlsRole role, const TlsOptions& o) {
    try {
      TlsContext ctx(role, o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  TlsOptions o = TlsOptions::from_dir(good(), "server");
  o.cert_file = good() + "/missing.crt";
  EXPECT_NE(error_of(TlsRole::Server, o).find("--tls-cert '" + o.cert_file + "': cannot open"), std::string::npos);
  o = TlsOptions::from_dir(good(), "server");
  o.key_file = good() + "/device.key";
  EXPECT_NE(error_of(TlsRole::Server, o).find("does not belong to --tls-cert"), std::string::npos);
  o = TlsOptions::from_dir(good(), "server");
  o.ca_file = good() + "/server.key";
  EXPECT_NE(error_of(TlsRole::Server, o).find("--tls-ca '" + o.ca_file + "': not a PEM certificate"),
            std::string::npos);
  o = TlsOptions::from_dir(good(), "device");
  o.pin_sha256 = "abc";
  EXPECT_NE(error_of(TlsRole::Client, o).find("--tls-pin 'abc': expected the 64 hex digits"), std::string::npos);
}

}  // namespace
}  // namespace nasc
