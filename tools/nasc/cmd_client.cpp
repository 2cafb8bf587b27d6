// nasc client: the IoT device. Runs the head of an exported split on test images, sends each payload through an
// emulated link to `nasc serve`, and reports accuracy and measured latency beside the estimator's prediction.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "command.h"
#include "common/error.h"
#include "data/data_spec.h"
#include "deploy/split_runtime.h"
#include "latency/estimator.h"
#include "nn/device.h"
#include "common/progress.h"
#include "tls_args.h"

namespace {

struct ClientArgs {
  std::string model;
  std::string server = "127.0.0.1:9000";
  std::string data = "fmnist";
  int64_t limit = 1000;
  std::string encoding;  // default: the manifest's
  double bandwidth_mbps = -1, downlink_mbps = -1, delay_ms = -1;
  bool no_link = false;
  std::string emulate_device;  // device profile whose head time each request is held to
  std::string device = "cpu";
  int threads = 1;
  int timeout_ms = 10000;
  bool json_out = false;
  nasc::cli::TlsArgs tls;
};

// The link to emulate: the export's recorded link unless overridden; none with --no-link or when nothing is known.
std::optional<nasc::LinkModel> chosen_link(const ClientArgs& a, const nasc::SplitManifest& m) {
  using namespace nasc;
  if (a.no_link) return std::nullopt;
  const json& lat = m.raw.contains("latency") ? m.raw["latency"] : json(nullptr);
  std::optional<LinkModel> link;
  if (lat.is_object() && lat.contains("link")) link = LinkModel::from_json(lat["link"], a.model + "/manifest.json");
  if (a.bandwidth_mbps > 0) {
    if (!link) link = LinkModel{};
    link->uplink_mbps = link->downlink_mbps = a.bandwidth_mbps;
  }
  if (!link) {
    if (a.delay_ms > 0 || a.downlink_mbps > 0)
      fail("--delay and --downlink need a link: give --bandwidth (the export recorded none)");
    return std::nullopt;
  }
  if (a.downlink_mbps > 0) link->downlink_mbps = a.downlink_mbps;
  if (a.delay_ms >= 0) link->delay_ms = a.delay_ms;
  link->return_result = true;  // this client always receives the scores
  link->validate();
  return link;
}

nasc::LatencyEstimator estimator(const nasc::SplitManifest& m, const nasc::HardwareProfile& device,
                                 const nasc::HardwareProfile& server, const nasc::LinkModel& link, nasc::Encoding enc) {
  using namespace nasc;
  // The estimator prices interior payloads only; at 0 and B the encoding does not matter.
  const Encoding priced = m.split == 0 || m.device_only() ? Encoding::Int8 : enc;
  return LatencyEstimator(Space(SpaceConfig::from_json(m.raw["space"], "manifest")), device, server, link, priced);
}

// Milliseconds the emulated device takes for the head of this split, by its profile.
double head_ms(const nasc::SplitManifest& m, const nasc::HardwareProfile& device) {
  using namespace nasc;
  const LatencyEstimator est = estimator(m, device, device, LinkModel{}, Encoding::Int8);
  return est.breakdown(est.space().parse_arch(m.raw["arch"].get<std::string>()), m.split).device_ms;
}

// The estimator's breakdown for this split and link, when the export recorded profiles that still exist; the
// device profile is the emulated one when there is one.
nasc::json predicted(const nasc::SplitManifest& m, const std::optional<nasc::LinkModel>& link, nasc::Encoding enc,
                     const std::optional<nasc::HardwareProfile>& emulated, std::string& why_not) {
  using namespace nasc;
  namespace fs = std::filesystem;
  const json& lat = m.raw.contains("latency") ? m.raw["latency"] : json(nullptr);
  if (!lat.is_object() || !lat.contains("device_profile")) {
    why_not = "the export recorded no hardware profiles";
    return nullptr;
  }
  const std::string dev = lat["device_profile"].get<std::string>(), srv = lat["server_profile"].get<std::string>();
  if ((!emulated && !fs::exists(dev)) || !fs::exists(srv)) {
    why_not = cat("profile ", !emulated && !fs::exists(dev) ? dev : srv, " not found from this directory");
    return nullptr;
  }
  if (!link) {
    why_not = "no link is emulated";
    return nullptr;
  }
  const LatencyEstimator est =
      estimator(m, emulated ? *emulated : HardwareProfile::load(dev), HardwareProfile::load(srv), *link, enc);
  return est.breakdown(est.space().parse_arch(m.raw["arch"].get<std::string>()), m.split).to_json();
}

int run_client(const ClientArgs& a) {
  using namespace nasc;
  const Endpoint at = parse_endpoint(a.server, "--server");
  ClientOptions copt;
  copt.host = at.host;
  copt.port = at.port;
  copt.request_timeout_ms = a.timeout_ms;
  copt.tls = a.tls.context(TlsRole::Client);
  copt.insecure = a.tls.insecure;
  require_tls_beyond_loopback(copt);  // before the model is loaded
  torch::Device device = select_device(a.device, a.threads);
  HeadRuntime head(a.model, device);
  const SplitManifest& m = head.manifest();
  const WireEncoding enc = a.encoding.empty() ? head.default_encoding() : to_wire(parse_encoding(a.encoding));
  const std::optional<LinkModel> link = chosen_link(a, m);
  if (link) {
    copt.link.up_mbps = link->uplink_mbps;
    copt.link.down_mbps = link->downlink_mbps;
    copt.link.delay_ms = link->delay_ms;
  }
  FrameClient client(copt);
  const std::vector<int64_t>& in = head.model().input_shape();  // [C, H, W]: own images are resized to it
  const ImageSet test = load_train_test(DataSpec::parse(a.data), int(in.at(1)), int(in.at(2))).test;
  std::optional<HardwareProfile> emulated;
  double hold_ms = 0;
  if (!a.emulate_device.empty()) {
    emulated = HardwareProfile::load(a.emulate_device);
    hold_ms = head_ms(m, *emulated);
  }

  Progress progress("client");
  SplitRunReport r = run_split_client(head, client, test, a.limit, enc, hold_ms,
                                      [&](int64_t done, int64_t total, const SplitRunReport& so_far) {
                                        if (progress.due() || done == total)
                                          progress.update(done, total,
                                                          cat("accuracy ", 100.0 * so_far.accuracy(), "%"));
                                      });
  progress.finish(cat("client: ", r.images, " requests in ", r.wall_s, " s"));

  std::string why_not;
  const json pred = predicted(m, link, from_wire(enc), emulated, why_not);
  json out = {{"model", a.model},
              {"server", a.server},
              {"split", m.split},
              {"num_blocks", m.num_blocks},
              {"arch", m.raw.value("arch", "")},
              {"link", link ? link->to_json() : json(nullptr)},
              {"measured", r.to_json()},
              {"predicted", pred},
              {"device", device_description(device)},
              {"emulated_device", emulated ? json{{"profile", a.emulate_device},
                                                  {"description", emulated->meta().description},
                                                  {"head_ms", hold_ms}}
                                           : json(nullptr)}};
  if (pred.is_null()) out["predicted_missing"] = why_not;
  // A run cut short still reports what it measured, then fails: the numbers cover the answered images only.
  auto exit_code = [&] {
    if (r.complete()) return 0;
    std::fprintf(stderr, "nasc: error: the run stopped after %lld of %lld images: %s\n", (long long)r.images,
                 (long long)r.requested, r.stopped.c_str());
    return 2;
  };
  if (a.json_out) {
    std::printf("%s\n", out.dump(2).c_str());
    return exit_code();
  }
  std::printf("split %d of %d, %s payload %lld B, %lld images, accuracy %.2f%%\n", m.split, m.num_blocks,
              r.encoding.c_str(), (long long)r.payload_bytes, (long long)r.images, 100.0 * r.accuracy());
  if (link)
    std::printf("emulated link: up %.3g Mbit/s, down %.3g Mbit/s, one-way delay %.3g ms\n", link->uplink_mbps,
                link->downlink_mbps, link->delay_ms);
  else
    std::printf("no link emulated (plain loopback)\n");
  if (emulated)
    std::printf("emulated device: %s (%s), each head held to its %.3f ms; %lld of %lld heads took longer here\n"
                "server: measured on the machine running nasc serve, not emulated\n",
                emulated->meta().description.c_str(), a.emulate_device.c_str(), hold_ms,
                (long long)r.device_overruns, (long long)r.images);
  std::printf("%-12s %10s %10s %10s\n", "ms", "median", "p95", "predicted");
  auto row = [&](const char* name, const LatencyStats& s, double p) {
    if (pred.is_null())
      std::printf("%-12s %10.3f %10.3f %10s\n", name, s.median, s.p95, "-");
    else
      std::printf("%-12s %10.3f %10.3f %10.3f\n", name, s.median, s.p95, p);
  };
  auto p = [&](const char* k) { return pred.is_null() ? 0.0 : pred[k].get<double>(); };
  row("device", r.device, p("device_ms"));
  row("transfer", r.transfer, p("uplink_ms") + p("downlink_ms"));
  row("server", r.server, p("server_ms"));
  row("total", r.total, p("total_ms"));
  if (pred.is_null()) std::printf("no prediction: %s\n", why_not.c_str());
  if (!r.complete())
    std::printf("only %lld of %lld images were answered: the figures above are theirs\n", (long long)r.images,
                (long long)r.requested);
  return exit_code();
}

nasc::cli::Action setup_client(CLI::App& app) {
  auto a = std::make_shared<ClientArgs>();
  app.add_option("--model", a->model, "Export directory (manifest.json, head/) written by nasc export")->required();
  app.add_option("--server", a->server, "HOST:PORT of nasc serve")->capture_default_str();
  app.add_option("--data", a->data, std::string("Test images: ") + nasc::kDataSpecForms)
      ->capture_default_str();
  app.add_option("--limit", a->limit, "Test images to send (-1 = all)")->check(CLI::Range(-1L, 1L << 40))
      ->capture_default_str();
  app.add_option("--encoding", a->encoding, "Payload encoding on the wire (default: the export's)")
      ->check(CLI::IsMember({"fp32", "fp16", "int8"}));
  app.add_option("--bandwidth", a->bandwidth_mbps,
                 "Emulated uplink (and downlink) Mbit/s (default: the link the export recorded)")
      ->check(CLI::PositiveNumber);
  app.add_option("--downlink", a->downlink_mbps, "Emulated downlink Mbit/s (default: the uplink's)")
      ->check(CLI::PositiveNumber);
  app.add_option("--delay", a->delay_ms, "Emulated one-way delay, ms (default: the export's)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--no-link", a->no_link, "Send over plain loopback, no emulated link (and no prediction)");
  app.add_option("--emulate-device", a->emulate_device,
                 "Device profile to emulate: each head is held to that profile's time for it (a slower device "
                 "than this machine), and the prediction uses it; heads that take longer here are counted")
      ->check(CLI::ExistingFile);
  nasc::cli::add_device_option(app, a->device);
  nasc::cli::add_threads_option(app, a->threads);
  app.add_option("--timeout-ms", a->timeout_ms, "Deadline per request: a lost connection is retried with back-off (50 ms doubling to 1 s) "
                 "until it, so a server restarted within it is found again")
      ->check(CLI::Range(1, 3600000))
      ->capture_default_str();
  app.add_flag("--json", a->json_out, "Print the report as JSON instead of a table");
  a->tls.add_to(app, nasc::TlsRole::Client);
  return [a] { return run_client(*a); };
}

}  // namespace

NASC_COMMAND(client, "client",
             "Run the head of an exported split on test images against nasc serve (the IoT device)", setup_client);
