// nasc client: the IoT device. Runs the head of an exported split on test images, sends each payload through an
// emulated link (constant, or a recorded trace) to `nasc serve`, and reports accuracy and measured latency beside
// the estimator's prediction; with an export of several splits it may choose the split per request.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include "command.h"
#include "common/error.h"
#include "data/data_spec.h"
#include "deploy/split_runtime.h"
#include "latency/estimator.h"
#include "nn/device.h"
#include "common/progress.h"
#include "common/stats.h"
#include "deploy/split_policy.h"
#include "latency/link_trace.h"
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
  std::string split;       // N, adaptive, oracle; empty: the export's default split
  std::string link_trace;  // uplink trace to emulate instead of a constant bandwidth
  double max_latency_ms = -1;
  double hysteresis = 0.1;
  int probe_every = 10;
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

// Milliseconds the emulated device takes for the head of split p, by its profile.
double head_ms(const nasc::SplitManifest& m, const nasc::HardwareProfile& device, int p) {
  using namespace nasc;
  const LatencyEstimator est = estimator(m, device, device, LinkModel{}, Encoding::Int8);
  return est.breakdown(est.space().parse_arch(m.raw["arch"].get<std::string>()), p).device_ms;
}

// What each split the export serves costs by the profiles (device: the emulated one when given), for choosing the
// split per request; empty with a reason when the profiles are not known here.
std::vector<nasc::SplitCost> split_costs(const nasc::SplitManifest& m, const nasc::LinkModel& link, nasc::Encoding enc,
                                         const std::optional<nasc::HardwareProfile>& emulated, std::string& why_not) {
  using namespace nasc;
  namespace fs = std::filesystem;
  const json& lat = m.raw.contains("latency") ? m.raw["latency"] : json(nullptr);
  if (!lat.is_object() || !lat.contains("server_profile")) {
    why_not = "the export recorded no hardware profiles (export it from a search, or with --device-profile and "
              "--server-profile)";
    return {};
  }
  const std::string dev = lat["device_profile"].get<std::string>(), srv = lat["server_profile"].get<std::string>();
  if ((!emulated && !fs::exists(dev)) || !fs::exists(srv)) {
    why_not = cat("profile ", !emulated && !fs::exists(dev) ? dev : srv, " not found from this directory");
    return {};
  }
  const LatencyEstimator est = LatencyEstimator(Space(SpaceConfig::from_json(m.raw["space"], "manifest")),
                                                emulated ? *emulated : HardwareProfile::load(dev),
                                                HardwareProfile::load(srv), link, enc);
  return split_costs(est, est.space().parse_arch(m.raw["arch"].get<std::string>()), m.splits());
}

// The estimator's breakdown for this split and link, when the export recorded profiles that still exist; the
// device profile is the emulated one when there is one.
nasc::json predicted(const nasc::SplitManifest& m, const std::optional<nasc::LinkModel>& link, nasc::Encoding enc,
                     const std::optional<nasc::HardwareProfile>& emulated, int split, std::string& why_not) {
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
  return est.breakdown(est.space().parse_arch(m.raw["arch"].get<std::string>()), split).to_json();
}

// What the client emulates, set up from its arguments and the export: the link (constant, or a recorded uplink)
// and the device whose head time each request is held to.
struct Emulation {
  std::optional<nasc::LinkModel> link;
  std::shared_ptr<const nasc::LinkTrace> trace;
  std::optional<nasc::HardwareProfile> device;
  std::map<int, double> hold_at;  // the emulated head's time at each split the export serves, priced once
  double hold_ms = 0;             // ... at the split the report names
};

Emulation emulation(const ClientArgs& a, const nasc::SplitManifest& m) {
  using namespace nasc;
  Emulation e;
  e.link = chosen_link(a, m);
  if (!a.link_trace.empty()) {
    if (a.no_link) fail("--link-trace and --no-link exclude each other");
    e.trace = std::make_shared<const LinkTrace>(LinkTrace::load(a.link_trace));
    if (!e.link) e.link = LinkModel{e.trace->mean_mbps(), e.trace->mean_mbps(), std::max(0.0, a.delay_ms), true};
  }
  if (!a.emulate_device.empty()) {
    e.device = HardwareProfile::load(a.emulate_device);
    e.hold_ms = head_ms(m, *e.device, m.split);
    for (int p : m.splits()) e.hold_at[p] = head_ms(m, *e.device, p);
  }
  return e;
}

// The split of each request: fixed, chosen by the policy from what the link did (adaptive), or by one who knows
// the trace ahead (oracle, the bound to compare against). Holds what run.choose and run.observe refer to.
struct SplitChoice {
  std::string mode;
  std::vector<nasc::SplitCost> costs;
  std::unique_ptr<nasc::SplitPolicy> policy;
};

void choose_splits(const ClientArgs& a, const nasc::SplitManifest& m, nasc::WireEncoding enc,
                   const nasc::FrameClient& client, Emulation& e, SplitChoice& sc, nasc::ClientRun& run) {
  using namespace nasc;
  sc.mode = a.split.empty() ? "default" : a.split;
  if (sc.mode == "adaptive" || sc.mode == "oracle") {
    if (!e.link) fail("--split ", sc.mode, " needs a link to emulate: give --bandwidth or --link-trace");
    if (sc.mode == "oracle" && !e.trace) fail("--split oracle needs --link-trace: it knows the trace ahead");
    std::string why;
    sc.costs = split_costs(m, *e.link, enc == WireEncoding::Raw ? Encoding::Int8 : from_wire(enc), e.device, why);
    if (sc.costs.empty()) fail("--split ", sc.mode, ": ", why);
  }
  const LinkModel* link = e.link ? &*e.link : nullptr;
  if (sc.mode == "adaptive") {
    SplitPolicyOptions po;
    po.link.initial_mbps = link->uplink_mbps;
    po.link.delay_ms = link->delay_ms;
    po.downlink_mbps = link->downlink_mbps;
    po.hysteresis = a.hysteresis;
    po.probe_every = a.probe_every;
    sc.policy = std::make_unique<SplitPolicy>(sc.costs, po);
    SplitPolicy* policy = sc.policy.get();
    run.choose = [policy] { return policy->choose(); };
    run.observe = [policy, link](int p, int64_t bytes, double moved_ms, int64_t reply_bytes) {
      // The estimate learns the uplink: the round trip's bytes in motion less the downlink's share.
      const double down = bytes > 0 ? link->downlink_ms(reply_bytes) : 0.0;
      policy->observe(p, bytes, std::max(0.0, moved_ms - down));
    };
  } else if (sc.mode == "oracle") {
    const LinkTrace* trace = e.trace.get();
    const std::vector<SplitCost>* costs = &sc.costs;
    run.choose = [&client, trace, costs, link] {
      const double t = client.link().trace_clock_ms();
      int best = costs->front().split;
      double best_ms = std::numeric_limits<double>::infinity();
      for (const SplitCost& c : *costs) {
        double ms = c.device_ms + c.server_ms;
        if (c.payload_bytes > 0)
          ms += link->delay_ms + trace->transfer_ms(c.payload_bytes, t + c.device_ms) +
                link->downlink_ms(c.result_bytes);
        if (ms < best_ms) best_ms = ms, best = c.split;
      }
      return best;
    };
  } else if (sc.mode != "default") {
    const std::optional<int> given = cli::parse_int(sc.mode);
    if (!given) fail("--split '", sc.mode, "': expected a split the export serves, adaptive or oracle");
    const int p = *given;
    m.cut(p);  // throws naming the splits held
    run.choose = [p] { return p; };
    if (e.device) e.hold_ms = head_ms(m, *e.device, p);
  }
}

// What one run measured, beside the prediction where one can be made; `why_not` says why there is none.
struct ClientReport {
  nasc::json out, pred = nullptr, within = nullptr;
  std::string why_not;
  bool one_split = true;
  int used = 0;
};

ClientReport client_report(const ClientArgs& a, const nasc::SplitManifest& m, const nasc::SplitRunReport& r,
                           const Emulation& e, const SplitChoice& sc, nasc::WireEncoding enc, torch::Device device) {
  using namespace nasc;
  ClientReport c;
  c.one_split = r.per_split.size() <= 1;
  c.used = c.one_split && !r.per_split.empty() ? r.per_split.begin()->first : m.split;
  if (e.trace)
    c.why_not = "the link follows a trace (nasc latency --link-trace models its distribution)";
  else if (!c.one_split)
    c.why_not = "the split changed per request";
  else
    c.pred = predicted(m, e.link, from_wire(enc), e.device, c.used, c.why_not);
  if (a.max_latency_ms > 0)
    c.within = r.totals_ms.empty() ? 0.0
                                   : double(std::count_if(r.totals_ms.begin(), r.totals_ms.end(),
                                                          [&](double v) { return v <= a.max_latency_ms; })) /
                                         double(r.totals_ms.size());
  c.out = {{"model", a.model},
           {"server", a.server},
           {"split", c.used},
           {"split_choice", {{"mode", sc.mode},
                             {"switches", r.switches},
                             {"per_split", r.per_split_json()},
                             {"policy", sc.policy ? sc.policy->report() : json(nullptr)}}},
           {"link_trace", e.trace ? json(a.link_trace) : json(nullptr)},
           {"max_latency_ms", a.max_latency_ms > 0 ? json(a.max_latency_ms) : json(nullptr)},
           {"within_max_latency", c.within},
           {"num_blocks", m.num_blocks},
           {"arch", m.raw.value("arch", "")},
           {"link", e.link ? e.link->to_json() : json(nullptr)},
           {"measured", r.to_json()},
           {"predicted", c.pred},
           {"device", device_description(device)},
           {"emulated_device", e.device ? json{{"profile", a.emulate_device},
                                               {"description", e.device->meta().description},
                                               {"head_ms", e.hold_ms}}
                                        : json(nullptr)}};
  if (c.pred.is_null()) c.out["predicted_missing"] = c.why_not;
  return c;
}

// The setting of the run: the splits used, the link and the device emulated.
void print_setting(const ClientArgs& a, const nasc::SplitManifest& m, const nasc::SplitRunReport& r,
                   const Emulation& e, const SplitChoice& sc, const ClientReport& c) {
  using namespace nasc;
  if (c.one_split)
    std::printf("split %d of %d, %s payload %lld B, %lld images, accuracy %.2f%%\n", c.used, m.num_blocks,
                r.encoding.c_str(), (long long)r.payload_bytes, (long long)r.images, 100.0 * r.accuracy());
  else
    std::printf("split chosen per request (%s) of %d blocks, %lld images, accuracy %.2f%%\n", sc.mode.c_str(),
                m.num_blocks, (long long)r.images, 100.0 * r.accuracy());
  if (!c.one_split || sc.policy) {
    std::string shares;
    for (auto& [q, count] : r.per_split)
      shares += cat(shares.empty() ? "" : ", ", q, ": ", count, " (", int(std::lround(100.0 * count / r.images)), "%)");
    std::printf("splits used %s; %lld switches", shares.c_str(), (long long)r.switches);
    if (sc.policy)
      std::printf("; %lld probes; uplink estimate at the end %.3g Mbit/s", (long long)sc.policy->probes(),
                  sc.policy->link().mbps());
    std::printf("\n");
  }
  if (e.trace)
    std::printf("emulated uplink: trace %s (%.1f s, mean %.3g Mbit/s, looping); down %.3g Mbit/s; one-way delay "
                "%.3g ms\n", a.link_trace.c_str(), e.trace->period_ms() / 1000, e.trace->mean_mbps(),
                e.link->downlink_mbps, e.link->delay_ms);
  else if (e.link)
    std::printf("emulated link: up %.3g Mbit/s, down %.3g Mbit/s, one-way delay %.3g ms\n", e.link->uplink_mbps,
                e.link->downlink_mbps, e.link->delay_ms);
  else
    std::printf("no link emulated (plain loopback)\n");
  if (e.device)
    std::printf("emulated device: %s (%s), each head held to its %s; %lld of %lld heads took longer here\n"
                "server: measured on the machine running nasc serve, not emulated\n",
                e.device->meta().description.c_str(), a.emulate_device.c_str(),
                c.one_split ? cat(head_ms(m, *e.device, c.used), " ms").c_str() : "profile's time at its split",
                (long long)r.device_overruns, (long long)r.images);
}

// The measured latencies beside the prediction, and what share met --max-latency.
void print_latencies(const ClientArgs& a, const nasc::SplitRunReport& r, const ClientReport& c) {
  using namespace nasc;
  std::printf("%-12s %10s %10s %10s\n", "ms", "median", "p95", "predicted");
  auto row = [&](const char* name, const LatencyStats& s, double p) {
    if (c.pred.is_null())
      std::printf("%-12s %10.3f %10.3f %10s\n", name, s.median, s.p95, "-");
    else
      std::printf("%-12s %10.3f %10.3f %10.3f\n", name, s.median, s.p95, p);
  };
  auto p = [&](const char* k) { return c.pred.is_null() ? 0.0 : c.pred[k].get<double>(); };
  row("device", r.device, p("device_ms"));
  row("transfer", r.transfer, p("uplink_ms") + p("downlink_ms"));
  row("server", r.server, p("server_ms"));
  row("total", r.total, p("total_ms"));
  if (c.pred.is_null()) std::printf("no prediction: %s\n", c.why_not.c_str());
  if (!c.within.is_null())
    std::printf("within %.4g ms: %.1f%% of requests\n", a.max_latency_ms, 100.0 * c.within.get<double>());
  if (!r.complete())
    std::printf("only %lld of %lld images were answered: the figures above are theirs\n", (long long)r.images,
                (long long)r.requested);
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
  const WireEncoding enc = a.encoding.empty() ? head.interior_encoding() : to_wire(parse_encoding(a.encoding));
  Emulation e = emulation(a, m);
  if (e.link) {
    copt.link.up_mbps = e.link->uplink_mbps;
    copt.link.down_mbps = e.link->downlink_mbps;
    copt.link.delay_ms = e.link->delay_ms;
    copt.link.up_trace = e.trace;
  }
  FrameClient client(copt);
  const std::vector<int64_t>& in = head.model().input_shape();  // [C, H, W]: own images are resized to it
  const ImageSet test = load_train_test(DataSpec::parse(a.data), int(in.at(1)), int(in.at(2))).test;

  Progress progress("client");
  ClientRun run;
  run.limit = a.limit;
  run.encoding = enc;
  if (e.device)
    run.device_hold_ms = [&](int p) { return e.hold_at.count(p) ? e.hold_at[p] : head_ms(m, *e.device, p); };
  run.progress = [&](int64_t done, int64_t total, const SplitRunReport& so_far) {
    if (progress.due() || done == total) progress.update(done, total, cat("accuracy ", 100.0 * so_far.accuracy(), "%"));
  };
  SplitChoice sc;
  choose_splits(a, m, enc, client, e, sc, run);
  SplitRunReport r = run_split_client(head, client, test, run);
  if (e.device && r.per_split.size() == 1) r.device_hold_ms = head_ms(m, *e.device, r.per_split.begin()->first);
  progress.finish(cat("client: ", r.images, " requests in ", r.wall_s, " s"));

  const ClientReport c = client_report(a, m, r, e, sc, enc, device);
  if (a.json_out) {
    std::printf("%s\n", c.out.dump(2).c_str());
  } else {
    print_setting(a, m, r, e, sc, c);
    print_latencies(a, r, c);
  }
  // A run cut short still reports what it measured, then fails: the numbers cover the answered images only.
  if (r.complete()) return 0;
  std::fprintf(stderr, "nasc: error: the run stopped after %lld of %lld images: %s\n", (long long)r.images,
               (long long)r.requested, r.stopped.c_str());
  return 2;
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
  app.add_option("--split", a->split,
                 "Split of every request: one the export serves (default: its default split), adaptive (per "
                 "request, the split with the lowest predicted total by the profiles and an uplink estimate learnt "
                 "from its own transfers), or oracle (knows --link-trace ahead: the bound for adaptive)");
  app.add_option("--link-trace", a->link_trace,
                 "Emulate the uplink by this trace (Mahimahi, or CSV seconds,mbps[,delay_ms]; it loops from the "
                 "first request) instead of a constant --bandwidth")
      ->check(CLI::ExistingFile);
  app.add_option("--max-latency", a->max_latency_ms, "Report the share of requests whose total is within this, ms")
      ->check(CLI::PositiveNumber);
  app.add_option("--hysteresis", a->hysteresis,
                 "adaptive: leave the current split only for one predicted below (1 - this) x its total")
      ->check(CLI::Range(0.0, 0.9))
      ->capture_default_str();
  app.add_option("--probe-every", a->probe_every,
                 "adaptive: after this many requests that sent nothing (device-only), send one to learn the link "
                 "again (0 = never)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_flag("--json", a->json_out, "Print the report as JSON instead of a table");
  a->tls.add_to(app, nasc::TlsRole::Client);
  return [a] { return run_client(*a); };
}

}  // namespace

NASC_COMMAND(client, "client",
             "Run the head of an exported split on test images against nasc serve (the IoT device)", setup_client);
