#include "deploy/split_runtime.h"

#include <algorithm>
#include <cmath>
#include <chrono>
#include <filesystem>
#include <thread>

#include "common/error.h"
#include "common/stats.h"
#include "deploy/export.h"

namespace nasc {

namespace fs = std::filesystem;

namespace {
int cut_index(const SplitManifest& m, int split) {
  for (size_t i = 0; i < m.cuts.size(); ++i)
    if (m.cuts[i].split == split) return int(i);
  return -1;
}
}  // namespace

SplitManifest SplitManifest::load(const std::string& dir) {
  const std::string path = (fs::path(dir) / "manifest.json").string();
  if (!fs::exists(path)) fail(dir, " is not an exported split: ", path, " is missing (write one with nasc export)");
  SplitManifest m;
  m.raw = read_json_file(path);
  const std::string format = json_get<std::string>(m.raw, "format", path);
  if (format != kManifestFormat) fail(path, ": format '", format, "', expected '", kManifestFormat, "'");
  m.split = json_get<int>(m.raw, "split", path);
  m.num_blocks = json_get<int>(m.raw, "num_blocks", path);
  m.classes = json_get<int>(m.raw, "classes", path);
  if (m.num_blocks < 1 || m.split < 0 || m.split > m.num_blocks || m.classes < 1)
    fail(path, ": split ", m.split, " of ", m.num_blocks, " blocks with ", m.classes,
         " classes, expected 0 <= split <= num_blocks and classes >= 1");
  if (!m.raw.contains("payload") || !m.raw["payload"].is_object()) fail(path, ": missing object 'payload'");
  const json& payload = m.raw["payload"];
  m.encoding = json_get<std::string>(payload, "encoding", path);
  for (int d : json_get<std::vector<int>>(payload, "shape", path)) m.payload_shape.push_back(d);
  const bool want_tensor = !m.device_only();
  if (want_tensor != !m.payload_shape.empty() || (want_tensor && m.payload_shape.size() > size_t(kMaxDims)))
    fail(path, ": payload shape ", format_shape(m.payload_shape), " does not fit split ", m.split, " of ",
         m.num_blocks);
  const std::string expected = m.split == 0 ? encoding_name(Encoding::Raw) : m.device_only() ? "none" : "";
  if (!expected.empty() ? m.encoding != expected
                        : (m.encoding != "fp32" && m.encoding != "fp16" && m.encoding != "int8"))
    fail(path, ": payload encoding '", m.encoding, "' at split ", m.split, ", expected ",
         expected.empty() ? std::string("fp32, fp16 or int8") : expected);
  // Exports of one split (and those made before several were possible) list none: the default is the only one.
  if (!m.raw.contains("splits")) {
    m.cuts.push_back({m.split, m.payload_shape, m.encoding, json_get_or<int64_t>(payload, "bytes", 0, path)});
    return m;
  }
  const json& cuts = m.raw["splits"];
  if (!cuts.is_array() || cuts.empty()) fail(path, ": 'splits' must be a non-empty array of {split, payload}");
  for (const json& c : cuts) {
    Cut cut;
    cut.split = json_get<int>(c, "split", path);
    if (cut.split < 0 || cut.split > m.num_blocks || (!m.cuts.empty() && cut.split <= m.cuts.back().split))
      fail(path, ": splits must be ascending and in 0..", m.num_blocks, ", got ", cut.split);
    const json& p = json_member(c, "payload", path);
    cut.encoding = json_get<std::string>(p, "encoding", path);
    for (int d : json_get<std::vector<int>>(p, "shape", path)) cut.payload_shape.push_back(d);
    cut.payload_bytes = json_get<int64_t>(p, "bytes", path);
    if ((cut.split == m.num_blocks) != cut.payload_shape.empty() || cut.payload_shape.size() > size_t(kMaxDims))
      fail(path, ": payload shape ", format_shape(cut.payload_shape), " does not fit split ", cut.split);
    m.cuts.push_back(cut);
  }
  const int d = cut_index(m, m.split);
  if (d < 0) fail(path, ": the default split ", m.split, " is not among its splits");
  if (m.cuts[size_t(d)].payload_shape != m.payload_shape || m.cuts[size_t(d)].encoding != m.encoding)
    fail(path, ": payload ", format_shape(m.payload_shape), " ", m.encoding, " of the default split ", m.split,
         " differs from its entry in splits (", format_shape(m.cuts[size_t(d)].payload_shape), " ",
         m.cuts[size_t(d)].encoding, ")");
  return m;
}

const SplitManifest::Cut& SplitManifest::cut(int s) const {
  for (const Cut& c : cuts)
    if (c.split == s) return c;
  std::string held;
  for (const Cut& c : cuts) held += cat(held.empty() ? "" : "|", c.split);
  fail("split ", s, " is not in this export: expected one of ", held);
}

std::vector<int> SplitManifest::splits() const {
  std::vector<int> out;
  for (const Cut& c : cuts) out.push_back(c.split);
  return out;
}

namespace {

// A half must belong to its manifest: a head from one export and a tail from another would run silently wrong.
SplitModel load_half(const SplitManifest& m, const std::string& dir, const char* role, torch::Device device) {
  SplitModel half = SplitModel::load((fs::path(dir) / role).string(), device);
  if (half.role() != role || half.split() != m.split || half.splits() != m.splits())
    fail((fs::path(dir) / role).string(), " is the ", half.role(), " of split ", half.split(), ", expected the ",
         role, " of split ", m.split, " named by ", dir, "/manifest.json");
  // The tensor crossing the outermost cut and the class count must be the manifest's, or every request would
  // fail later.
  const std::vector<int64_t> scores{m.classes};
  const bool head = std::string(role) == "head";
  const int q = head ? m.cuts.back().split : m.cuts.front().split;
  const std::vector<int64_t>& at_cut = head ? half.output_shape() : half.input_shape();
  const std::vector<int64_t>& want = q == m.num_blocks ? scores : m.cut(q).payload_shape;
  if (half.num_classes() != m.classes || (!head && half.output_shape() != scores) ||
      (!(head && q == 0) && at_cut != want))
    fail((fs::path(dir) / role).string(), " takes ", format_shape(half.input_shape()), " to ",
         format_shape(half.output_shape()), " with ", half.num_classes(), " classes; ", dir,
         "/manifest.json declares payload ", format_shape(m.payload_shape), " and ", m.classes, " classes");
  return half;
}

std::vector<float> to_floats(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

std::vector<int64_t> with_batch(const std::vector<int64_t>& shape) {
  std::vector<int64_t> b{1};
  b.insert(b.end(), shape.begin(), shape.end());
  return b;
}

}  // namespace

HeadRuntime::HeadRuntime(const std::string& dir, torch::Device device)
    : manifest_(SplitManifest::load(dir)), head_(load_half(manifest_, dir, "head", device)) {}

WireEncoding HeadRuntime::default_encoding() const {
  if (manifest_.device_only()) return WireEncoding::Fp32;  // nothing is sent
  if (manifest_.split == 0) return WireEncoding::Raw;
  return to_wire(parse_encoding(manifest_.encoding));
}

WireEncoding HeadRuntime::interior_encoding() const {
  for (const SplitManifest::Cut& c : manifest_.cuts)
    if (c.split > 0 && c.split < manifest_.num_blocks) return to_wire(parse_encoding(c.encoding));
  return WireEncoding::Fp32;
}

HeadRuntime::Output HeadRuntime::run(const uint8_t* pixels, WireEncoding enc, int split) const {
  Output out;
  const SplitManifest::Cut& cut = manifest_.cut(split);
  // The head always starts at block 0, so its input is the image [C, H, W].
  const std::vector<int64_t>& image = head_.input_shape();
  const int64_t n = image[0] * image[1] * image[2];
  if (split == 0) {
    out.payload = encode_raw(std::vector<uint8_t>(pixels, pixels + n), image);
    return out;
  }
  if (enc == WireEncoding::Raw) fail("raw payloads exist only at split 0: expected fp32, fp16 or int8");
  // from_blob does not copy; normalize() makes the float copy before the pixels go out of scope.
  torch::Tensor img = torch::from_blob(const_cast<uint8_t*>(pixels), with_batch(image), torch::kUInt8);
  torch::Tensor y = head_.forward_range(head_.normalize(img), 0, split);
  std::vector<float> v = to_floats(y);
  if (split == manifest_.num_blocks)
    out.scores = std::move(v);
  else
    out.payload = encode_floats(v, cut.payload_shape, enc);
  return out;
}

TailRuntime::TailRuntime(const std::string& dir, torch::Device device)
    : manifest_(SplitManifest::load(dir)), tail_(load_half(manifest_, dir, "tail", device)) {
  for (const SplitManifest::Cut& c : manifest_.cuts) {
    if (c.split == manifest_.num_blocks) continue;  // device-only: nothing reaches the server
    InputSpec::Cut cut{c.split, c.payload_shape, {WireEncoding::Raw}};
    if (c.split > 0) cut.encodings = {WireEncoding::Fp32, WireEncoding::Fp16, WireEncoding::Int8};
    spec_.cuts.push_back(cut);
  }
  if (spec_.cuts.empty())
    fail(dir, " is split at the last block (", manifest_.split,
         "): the whole network runs on the device and there is no tail to serve");
}

std::vector<float> TailRuntime::run(const WireTensor& payload, int split) const {
  const std::string why = spec_.check(split, payload);
  if (!why.empty()) fail("tail: ", why);
  torch::Tensor x;
  if (split == 0) {
    x = torch::from_blob(const_cast<uint8_t*>(payload.bytes.data()), with_batch(payload.shape), torch::kUInt8);
    x = tail_.normalize(x);  // copies, so the request's bytes may go
  } else {
    x = torch::empty(with_batch(payload.shape), torch::kFloat);
    decode_floats(payload, x.data_ptr<float>());
  }
  return to_floats(tail_.forward_range(x, split, manifest_.num_blocks));
}

Handler TailRuntime::handler() const {
  return [this](const Request& r) { return Response{run(r.payload, r.split)}; };
}

}  // namespace nasc

namespace nasc {

LatencyStats LatencyStats::of(std::vector<double> ms) {
  LatencyStats s;
  if (ms.empty()) return s;
  double sum = 0;
  for (double v : ms) sum += v;
  s.mean = sum / double(ms.size());
  std::sort(ms.begin(), ms.end());
  s.median = quantile_sorted(ms, 0.5);
  s.p95 = quantile_sorted(ms, 0.95);
  return s;
}

json SplitRunReport::per_split_json() const {
  json out = json::array();
  for (auto& [p, count] : per_split)
    out.push_back({{"split", p}, {"requests", count}, {"share", images ? double(count) / double(requested) : 0.0}});
  return out;
}

json LatencyStats::to_json() const { return {{"median_ms", median}, {"p95_ms", p95}, {"mean_ms", mean}}; }

json SplitRunReport::to_json() const {
  return {{"images", images},     {"correct", correct},          {"accuracy", accuracy()},
          {"encoding", encoding}, {"payload_bytes", payload_bytes}, {"device", device.to_json()},
          {"transfer", transfer.to_json()}, {"server", server.to_json()}, {"total", total.to_json()},
          {"wall_s", wall_s}, {"device_hold_ms", device_hold_ms}, {"device_overruns", device_overruns},
          {"requested", requested}, {"stopped", stopped.empty() ? json(nullptr) : json(stopped)},
          {"switches", switches}, {"per_split", per_split_json()}};
}

SplitRunReport run_split_client(const HeadRuntime& head, FrameClient& client, const ImageSet& images, int64_t limit,
                                WireEncoding encoding, double device_hold_ms,
                                const std::function<void(int64_t, int64_t, const SplitRunReport&)>& progress) {
  if (!(device_hold_ms >= 0) || !std::isfinite(device_hold_ms))
    fail("device hold of ", device_hold_ms, " ms: expected a finite value >= 0");
  ClientRun run;
  run.limit = limit;
  run.encoding = encoding;
  if (device_hold_ms > 0) run.device_hold_ms = [device_hold_ms](int) { return device_hold_ms; };
  run.progress = progress;
  SplitRunReport r = run_split_client(head, client, images, run);
  r.device_hold_ms = device_hold_ms;
  return r;
}

namespace {

void check_images_fit(const HeadRuntime& head, const ImageSet& images) {
  const std::vector<int64_t> want{head.model().input_shape()};
  if (int64_t(images.c) != want[0] || (want.size() == 3 && (images.h != want[1] || images.w != want[2])))
    fail("images ", images.name, " of shape [", images.c, ",", images.h, ",", images.w, "] do not fit the head: expected ",
         format_shape(want));
  if (images.num_classes != head.manifest().classes)
    fail("images ", images.name, " have ", images.num_classes, " classes, the network ", head.manifest().classes);
}

// An emulated device: the head's work ends hold_ms after start, not before; false when it took longer already.
bool hold_until(Clock::time_point start, double hold_ms) {
  if (hold_ms <= 0) return true;
  const bool in_time = std::chrono::duration<double, std::milli>(Clock::now() - start).count() <= hold_ms;
  std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double, std::milli>(hold_ms)));
  return in_time;
}

}  // namespace

SplitRunReport run_split_client(const HeadRuntime& head, FrameClient& client, const ImageSet& images,
                                const ClientRun& run) {
  const SplitManifest& m = head.manifest();
  check_images_fit(head, images);
  const int64_t n = std::min<int64_t>(run.limit < 0 ? images.size() : run.limit, images.size());
  SplitRunReport r;
  r.requested = n;
  auto encoding_at = [&](int p) {
    return p == m.num_blocks ? std::string("none") : p == 0 ? std::string("raw") : wire_encoding_name(run.encoding);
  };
  r.encoding = encoding_at(m.split);
  std::vector<double> device, transfer, server, total;
  const auto t0 = Clock::now();
  auto ms_since = [](Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); };
  int last = -1;
  for (int64_t i = 0; i < n; ++i) {
    const int p = run.choose ? run.choose() : m.split;
    if (last >= 0 && p != last) ++r.switches;
    last = p;
    ++r.per_split[p];
    const auto start = Clock::now();
    HeadRuntime::Output out = head.run(images.image(i), run.encoding, p);
    if (run.device_hold_ms && !hold_until(start, run.device_hold_ms(p))) ++r.device_overruns;
    const double dev = ms_since(start);
    std::vector<float> scores;
    if (p == m.num_blocks) {
      scores = std::move(out.scores);
      transfer.push_back(0);
      server.push_back(0);
      if (run.observe) run.observe(p, 0, 0.0, 0);
    } else {
      r.payload_bytes = int64_t(out.payload.bytes.size());
      Reply reply;
      try {
        reply = client.infer(out.payload, p);
      } catch (const Error& e) {
        r.stopped = cat("image ", i, " of ", n, ": ", e.what());
        break;
      }
      scores = std::move(reply.scores);
      const double moved = std::max(0.0, reply.round_trip_ms - reply.server_ms);
      transfer.push_back(moved);
      server.push_back(reply.server_ms);
      if (run.observe) run.observe(p, r.payload_bytes, moved, int64_t(reply.reply_bytes));
    }
    device.push_back(dev);
    total.push_back(ms_since(start));
    if (int64_t(scores.size()) != m.classes)
      fail("request ", i, ": ", scores.size(), " class scores, expected ", m.classes);
    const int64_t guess = std::max_element(scores.begin(), scores.end()) - scores.begin();
    r.correct += guess == images.labels[size_t(i)];
    r.images = i + 1;
    if (run.progress) run.progress(i + 1, n, r);
  }
  if (r.per_split.size() > 1) r.encoding = "per split";
  r.device = LatencyStats::of(device);
  r.transfer = LatencyStats::of(transfer);
  r.server = LatencyStats::of(server);
  r.total = LatencyStats::of(total);
  r.totals_ms = std::move(total);
  r.wall_s = ms_since(t0) / 1000.0;
  return r;
}

}  // namespace nasc
