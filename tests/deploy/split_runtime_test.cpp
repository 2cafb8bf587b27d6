#include "deploy/split_runtime.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "common/error.h"
#include "deploy/export.h"
#include "deploy_test_util.h"
#include "export_fixtures.h"

using namespace nasc;
using namespace nasc::test;
namespace fs = std::filesystem;

namespace {

// n random images labelled by the whole network's own prediction, so that an exact split scores 100%.
ImageSet self_labelled(NetworkImpl& net, const Normalizer& norm, int n, torch::Tensor& whole_scores) {
  const Space& s = net.space();
  torch::Tensor pixels = random_pixels(s, n);
  {
    torch::NoGradGuard no_grad;
    whole_scores = net.forward(normalized(norm, pixels));
  }
  ImageSet set;
  set.name = "random";
  const Shape in = s.input_shape();
  set.c = in.c;
  set.h = in.h;
  set.w = in.w;
  set.num_classes = s.num_classes();
  set.pixels.assign(pixels.data_ptr<uint8_t>(), pixels.data_ptr<uint8_t>() + pixels.numel());
  torch::Tensor labels = whole_scores.argmax(1);
  for (int i = 0; i < n; ++i) set.labels.push_back(int16_t(labels[i].item<int64_t>()));
  return set;
}

std::string export_at(NetworkImpl& net, const Normalizer& norm, int p, Encoding enc, const std::string& name) {
  std::string out = fresh_dir(name);
  ExportOptions opt;
  opt.split = p;
  opt.encoding = enc;
  export_split(net, norm, opt, out);
  return out;
}

// A test network exported at a default split and further ones, its self-labelled images and both runtimes.
struct MultiSplitExport {
  MultiSplitExport(uint64_t seed, int n, int split, std::vector<int> splits, const std::string& name)
      : net(test_network(kArchA, seed)), images(self_labelled(*net, norm, n, whole)), dir(fresh_dir(name)),
        manifest(export_split(*net, norm, options(split, std::move(splits)), dir)), head(dir, torch::kCPU),
        tail(dir, torch::kCPU) {}
  ~MultiSplitExport() { fs::remove_all(dir); }
  static ExportOptions options(int split, std::vector<int> splits) {
    ExportOptions opt;
    opt.split = split;
    opt.splits = std::move(splits);
    opt.encoding = Encoding::Fp32;
    return opt;
  }
  Network net;
  const Normalizer norm = test_normalizer();
  torch::Tensor whole;  // the whole network's scores of `images`
  const ImageSet images;
  const std::string dir;
  const json manifest;
  HeadRuntime head;
  TailRuntime tail;
};

WireTensor payload_at_4(const HeadRuntime& head, const ImageSet& images) {
  return head.run(images.image(0), WireEncoding::Fp32).payload;
}

}  // namespace

TEST(Endpoint, ParsesHostPortAndRejectsTheRest) {
  Endpoint e = parse_endpoint("127.0.0.1:9000", "--listen");
  EXPECT_EQ(e.host, "127.0.0.1");
  EXPECT_EQ(e.port, 9000);
  EXPECT_EQ(parse_endpoint("[::1]:80", "--server").host, "::1");
  for (const char* bad : {"9000", "host:", ":9000", "host:0", "host:65536", "host:12ab", "host:-1"}) {
    try {
      parse_endpoint(bad, "--server");
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find("--server"), std::string::npos) << err.what();
    }
  }
}

// The device and server halves talk through a real FrameServer on loopback: the scores the client gets equal the
// whole network's at every kind of split (raw input at 0, fp32 activations inside, device-only at B).
TEST(SplitRuntime, ClientThroughServerEqualsWholeNetwork) {
  Network net = test_network(kArchA, 3);
  const Normalizer norm = test_normalizer();
  torch::Tensor whole;
  const ImageSet images = self_labelled(*net, norm, 12, whole);
  const int B = net->space().num_blocks();
  for (int p : {0, 3, B}) {
    const std::string dir = export_at(*net, norm, p, Encoding::Fp32, "p" + std::to_string(p));
    HeadRuntime head(dir, torch::kCPU);
    if (p == 0) EXPECT_EQ(head.default_encoding(), WireEncoding::Raw);  // what `nasc client` sends by default
    for (int i = 0; i < 3; ++i) {
      HeadRuntime::Output out = head.run(images.image(i), WireEncoding::Fp32);
      std::vector<float> scores = out.scores;
      if (p < B) {
        EXPECT_TRUE(out.scores.empty());
        scores = TailRuntime(dir, torch::kCPU).run(out.payload, p);
      }
      ASSERT_EQ(int64_t(scores.size()), whole.size(1));
      for (size_t k = 0; k < scores.size(); ++k) EXPECT_NEAR(scores[k], whole[i][k].item<float>(), 1e-5) << p;
    }
    if (p == B) {
      EXPECT_THROW(TailRuntime(dir, torch::kCPU), Error);  // nothing to serve
      ClientOptions nowhere;
      nowhere.port = 9;              // discard: never contacted for a device-only split
      FrameClient unused(nowhere);
      SplitRunReport r = run_split_client(head, unused, images, -1, WireEncoding::Fp32);
      EXPECT_EQ(r.correct, r.images);
      EXPECT_EQ(r.payload_bytes, 0);
      // Device emulation: every head held to 15 ms; a hold shorter than any real head counts every one.
      SplitRunReport held = run_split_client(head, unused, images, 3, WireEncoding::Fp32, 15.0);
      EXPECT_GE(held.device.median, 15.0);
      EXPECT_LT(held.device.median, 100.0);
      EXPECT_EQ(held.device_hold_ms, 15.0);
      EXPECT_EQ(held.correct, 3);
      EXPECT_EQ(run_split_client(head, unused, images, 3, WireEncoding::Fp32, 1e-6).device_overruns, 3);
      EXPECT_THROW(run_split_client(head, unused, images, 3, WireEncoding::Fp32, -1.0), Error);
      continue;
    }
    TailRuntime tail(dir, torch::kCPU);
    LogSink log;
    ServerOptions so = test_server_options(log);
    so.input = tail.input_spec();
    FrameServer server(so, tail.handler());
    ClientOptions co;
    co.port = server.port();
    FrameClient client(co);
    int64_t calls = 0;
    SplitRunReport r = run_split_client(head, client, images, 10, WireEncoding::Fp32, 0,
                                        [&](int64_t done, int64_t total, const SplitRunReport&) {
                                          EXPECT_EQ(total, 10);
                                          calls = done;
                                        });
    EXPECT_EQ(calls, 10);
    EXPECT_EQ(r.images, 10);
    EXPECT_EQ(r.correct, 10) << "split " << p;
    EXPECT_EQ(r.encoding, p == 0 ? "raw" : "fp32");
    EXPECT_EQ(r.payload_bytes, net->space().payload_bytes(p, p == 0 ? Encoding::Raw : Encoding::Fp32));
    EXPECT_GT(r.server.median, 0);
    EXPECT_GE(r.total.median, r.device.median);
    // The server counts a request after writing its reply, which the client may read first.
    for (int i = 0; i < 100 && server.stats().requests < 10u; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(server.stats().requests, 10u);
    fs::remove_all(dir);
  }
}

// One export holding splits {2, 3, B}: the head keeps every block, the tail blocks from 2 on, and a request cut at
// any of them gets the whole network's scores; a split the export does not hold is refused by the server from the
// frame's header and by the head before it computes.
TEST(SplitRuntime, OneExportServesEverySplitItLists) {
  const int B = test_network(kArchA, 3)->space().num_blocks();
  MultiSplitExport x(3, 4, 3, {B, 2}, "multi");
  const json& m = x.manifest;
  const ImageSet& images = x.images;
  const torch::Tensor& whole = x.whole;
  HeadRuntime& head = x.head;
  TailRuntime& tail = x.tail;
  ASSERT_EQ(m["splits"].size(), 3u);
  EXPECT_EQ(m["head"]["block_range"], (std::vector<int>{0, B}));
  EXPECT_EQ(m["tail"]["block_range"], (std::vector<int>{2, B}));
  EXPECT_EQ(head.manifest().splits(), (std::vector<int>{2, 3, B}));
  EXPECT_EQ(tail.input_spec().cuts.size(), 2u);  // the device-only split sends nothing
  LogSink log;
  ServerOptions so = test_server_options(log);
  so.input = tail.input_spec();
  FrameServer server(so, tail.handler());
  FrameClient client(test_client_options(server.port()));
  for (int p : {2, 3, B})
    for (int i = 0; i < 4; ++i) {
      HeadRuntime::Output out = head.run(images.image(i), WireEncoding::Fp32, p);
      std::vector<float> scores = p == B ? out.scores : client.infer(out.payload, p).scores;
      ASSERT_EQ(int64_t(scores.size()), whole.size(1)) << "split " << p;
      for (size_t k = 0; k < scores.size(); ++k) EXPECT_NEAR(scores[k], whole[i][k].item<float>(), 1e-5) << p;
    }
  const WireTensor at3 = head.run(images.image(0), WireEncoding::Fp32, 3).payload;
  try {
    client.infer(at3, 1);
    ADD_FAILURE() << "split 1 was served";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown_split: split 1 is not served here: expected one of 2|3"),
              std::string::npos) << e.what();
  }
  EXPECT_THROW(client.infer(at3, 2), Error);  // the activation after block 3 is not the one at 2
  EXPECT_THROW(head.run(images.image(0), WireEncoding::Fp32, 1), Error);

  // A run that changes its split on every request: each is answered, and right, and the switches are counted.
  ClientRun run;
  run.encoding = WireEncoding::Int8;
  const std::vector<int> cycle{2, B, 3, 3, 2};
  size_t next = 0;
  std::vector<std::pair<int, int64_t>> seen;
  run.choose = [&] { return cycle[next++ % cycle.size()]; };
  run.observe = [&](int p, int64_t bytes, double, int64_t) { seen.push_back({p, bytes}); };
  SplitRunReport r = run_split_client(head, client, images, run);
  EXPECT_TRUE(r.complete()) << r.stopped;
  EXPECT_EQ(r.images, 4);
  EXPECT_EQ(r.correct, 4);  // int8 rounding does not move these argmaxes
  EXPECT_EQ(r.switches, 2);  // 2 -> B -> 3 -> 3
  EXPECT_EQ(r.per_split, (std::map<int, int64_t>{{2, 1}, {3, 2}, {B, 1}}));
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[1], (std::pair<int, int64_t>{B, 0}));  // device-only sends nothing
  EXPECT_EQ(seen[2].second, x.net->space().payload_bytes(3, Encoding::Int8));
}

// 64 devices at once, each changing its split on every request, against one server holding the tails of three
// splits: every request is answered with the whole network's class.
TEST(SplitRuntime, SixtyFourClientsSwitchingSplitsAreAllAnsweredRight) {
  MultiSplitExport x(5, 8, 3, {1, 2}, "multi64");
  const ImageSet& images = x.images;
  HeadRuntime& head = x.head;
  TailRuntime& tail = x.tail;
  LogSink log;
  ServerOptions so = test_server_options(log);
  so.input = tail.input_spec();
  so.max_connections = 64;
  so.io_timeout_ms = 5000;
  FrameServer server(so, tail.handler());
  constexpr int kClients = 64;
  std::vector<std::future<int64_t>> right;
  for (int k = 0; k < kClients; ++k)
    right.push_back(std::async(std::launch::async, [&, k] {
      ClientOptions co;
      co.port = server.port();
      co.request_timeout_ms = 20000;
      FrameClient client(co);
      ClientRun run;
      run.encoding = WireEncoding::Fp32;
      int next = k;
      run.choose = [&] { return 1 + next++ % 3; };  // 1, 2, 3, 1, ...
      SplitRunReport r = run_split_client(head, client, images, run);
      return r.complete() && r.switches == r.images - 1 ? r.correct : int64_t(-1);
    }));
  int64_t total = 0;
  for (auto& f : right) total += f.get();
  EXPECT_EQ(total, kClients * int64_t(images.size()));
  EXPECT_EQ(server.stats().errors[size_t(ErrorCode::UnknownSplit)], 0u);
}

// The server goes away in the middle of a run. Restarted within the client's deadline, every request is
// answered, and right; gone for good, the run ends with a report of the images answered and why it stopped.
TEST(SplitRuntime, ServerRestartedMidRunLosesNoRequestAndOneGoneForGoodEndsWithAReport) {
  Network net = test_network(kArchA, 3);
  const Normalizer norm = test_normalizer();
  torch::Tensor whole;
  const ImageSet images = self_labelled(*net, norm, 16, whole);
  const std::string dir = export_at(*net, norm, 3, Encoding::Fp32, "restart");
  HeadRuntime head(dir, torch::kCPU);
  TailRuntime tail(dir, torch::kCPU);
  LogSink log;
  ServerOptions so = test_server_options(log);
  so.input = tail.input_spec();
  for (bool comes_back : {true, false}) {
    auto server = std::make_unique<FrameServer>(so, tail.handler());
    so.port = server->port();
    ClientOptions co;
    co.port = so.port;
    co.request_timeout_ms = comes_back ? 8000 : 400;
    co.backoff_initial_ms = 20;
    co.backoff_max_ms = 200;
    FrameClient client(co);
    std::thread restart;
    SplitRunReport r = run_split_client(head, client, images, 16, WireEncoding::Fp32, 0,
                                        [&](int64_t done, int64_t, const SplitRunReport&) {
                                          if (done != 6) return;
                                          server.reset();  // connections close; the next request finds none
                                          if (comes_back)
                                            restart = std::thread([&] {
                                              std::this_thread::sleep_for(std::chrono::milliseconds(500));
                                              server = std::make_unique<FrameServer>(so, tail.handler());
                                            });
                                        });
    if (restart.joinable()) restart.join();
    EXPECT_EQ(r.requested, 16);
    if (comes_back) {
      EXPECT_TRUE(r.complete()) << r.stopped;
      EXPECT_EQ(r.images, 16);
      EXPECT_EQ(r.correct, 16);
    } else {
      EXPECT_FALSE(r.complete());
      EXPECT_EQ(r.images, 6);
      EXPECT_EQ(r.correct, 6);
      EXPECT_NE(r.stopped.find("image 6 of 16"), std::string::npos) << r.stopped;
      EXPECT_NE(r.to_json()["stopped"].get<std::string>().find("refused"), std::string::npos) << r.stopped;
    }
    so.port = 0;
  }
  fs::remove_all(dir);
}

// int8 and fp16 payloads are lossy but close: the scores stay near the whole network's and the server takes
// every float encoding the client may choose, while a payload of the wrong shape is refused by name.
TEST(SplitRuntime, LossyEncodingsStayCloseAndWrongPayloadsAreRefused) {
  Network net = test_network(kArchB, 4);
  const Normalizer norm = test_normalizer();
  torch::Tensor whole;
  const ImageSet images = self_labelled(*net, norm, 4, whole);
  const std::string dir = export_at(*net, norm, 4, Encoding::Int8, "int8");
  HeadRuntime head(dir, torch::kCPU);
  TailRuntime tail(dir, torch::kCPU);
  EXPECT_EQ(head.default_encoding(), WireEncoding::Int8);
  const float range = (whole.max() - whole.min()).item<float>();
  for (WireEncoding enc : {WireEncoding::Int8, WireEncoding::Fp16}) {
    WireTensor payload = head.run(images.image(0), enc).payload;
    EXPECT_EQ(payload.encoding, enc);
    std::vector<float> s = tail.run(payload, 4);
    float worst = 0;
    for (size_t k = 0; k < s.size(); ++k) worst = std::max(worst, std::abs(s[k] - whole[0][k].item<float>()));
    EXPECT_GT(worst, 0.f) << wire_encoding_name(enc) << " cannot be exact";
    EXPECT_LT(worst, (enc == WireEncoding::Int8 ? 0.05f : 0.005f) * range) << wire_encoding_name(enc);
  }
  WireTensor wrong = encode_floats(std::vector<float>(8, 0.f), {2, 2, 2}, WireEncoding::Fp32);
  try {
    tail.run(wrong, 4);
    ADD_FAILURE() << "a payload of the wrong shape was run";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2,2,2]"), std::string::npos) << e.what();
  }
  try {
    tail.run(payload_at_4(head, images), 3);
    ADD_FAILURE() << "a payload naming a split this tail does not start at was run";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("split 3 is not served here: expected one of 4"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(head.run(images.image(0), WireEncoding::Raw), Error);
  fs::remove_all(dir);
}

TEST(SplitRuntime, ManifestErrorsNameTheFile) {
  const std::string dir = fresh_dir("broken");
  fs::create_directories(dir);
  try {
    SplitManifest::load(dir);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("manifest.json is missing"), std::string::npos) << e.what();
  }
  write_json_atomic(dir + "/manifest.json", {{"format", kManifestFormat}, {"split", 9}, {"num_blocks", 7},
                                             {"classes", 10}, {"payload", {{"encoding", "int8"}, {"shape", {8}}}}});
  try {
    SplitManifest::load(dir);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("split 9 of 7"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}
