#include "deploy/export.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "common/error.h"
#include "deploy/fold.h"
#include "deploy/onnx_export.h"
#include "deploy/split_model.h"

namespace nasc {

namespace fs = std::filesystem;


int TrainedRun::search_split() const { return search.is_null() ? -1 : json_get<int>(search, "split", "search.json"); }

TrainedRun TrainedRun::load(const std::string& dir) {
  const fs::path d(dir);
  TrainedRun r;
  const fs::path search_path = d / "search.json";
  if (fs::exists(search_path)) {
    const std::string sp = search_path.string();
    r.search = read_json_file(sp);
    if (!r.search.contains("retrained") || !r.search["retrained"].contains("result"))
      fail(sp, " records no retrained network: run `nasc train --from ", sp, "` first");
    const auto recorded = json_get<std::string>(r.search["retrained"], "result", sp);
    // nasc train records the path relative to the search's folder (absolute paths are taken as they are); runs
    // made before that recorded it from their working directory, so the default location is the fallback.
    const fs::path resolved = fs::path(recorded).is_relative() ? d / recorded : fs::path(recorded);
    r.result_path = fs::exists(resolved) ? resolved.string() : (d / "retrain" / "result.json").string();
    if (!fs::exists(r.result_path)) fail(sp, ": its retrained result ", recorded, " does not exist");
  } else if (fs::exists(d / "result.json")) {
    r.result_path = (d / "result.json").string();
  } else {
    fail(dir, ": expected a train run directory (result.json) or a search directory (search.json)");
  }
  const std::string& rp = r.result_path;
  r.result = read_json_file(rp);
  Space space(SpaceConfig::from_json(json_member(r.result, "space", rp), rp));
  const auto arch_text = json_get<std::string>(r.result, "arch", rp);
  if (!r.search.is_null() &&
      (json_get<std::string>(r.search, "arch", dir) != arch_text ||
       SpaceConfig::from_json(json_member(r.search, "space", dir), dir).to_json() != space.config().to_json()))
    fail(rp, " is not the retraining of ", (d / "search.json").string(), ": space or architecture differ");
  r.normalizer = Normalizer::from_json(json_member(r.result, "normalizer", rp), rp);
  const fs::path weights =
      file_in_dir(fs::path(rp).parent_path().string(), json_get<std::string>(r.result, "weights", rp), "weights", rp);
  if (!fs::exists(weights)) fail(rp, ": its weights ", weights.string(), " do not exist (is the training finished?)");
  r.network = Network(space, space.parse_arch(arch_text));
  try {
    torch::load(r.network, weights.string(), torch::kCPU);
  } catch (const c10::Error&) {
    fail(weights.string(), ": cannot load as the weights of ", space.name(), " architecture ", arch_text);
  }
  r.network->eval();
  return r;
}

namespace {

// The tensor at boundary q without the batch: [C, H, W], or [classes] after the last block.
std::vector<int64_t> boundary(const Space& s, int q) {
  if (q == s.num_blocks()) return {s.num_classes()};
  Shape sh = s.boundary_shape(q);
  return {sh.c, sh.h, sh.w};
}

const char* boundary_kind(const Space& s, int q) {
  return q == 0 ? "pixels" : q == s.num_blocks() ? "scores" : "activation";
}

json write_half(const NetworkImpl& net, const Normalizer& norm, int split, const std::vector<int>& splits,
                const std::string& role, int begin, int end, const fs::path& dir) {
  const Space& s = net.space();
  fs::create_directories(dir);
  auto blocks = fold_network(net, begin, end);
  json blocks_j = json::array();
  for (const auto& b : blocks) blocks_j.push_back(b.to_json());
  save_folded_weights(blocks, (dir / "weights.pt").string());
  json onnx_file = nullptr;
  if (onnx_available()) {
    write_onnx(blocks, boundary(s, begin), boundary(s, end), cat("nasc_", s.name(), "_", role, "_p", split),
               (dir / "model.onnx").string());
    onnx_file = "model.onnx";
  }
  json d = {{"format", kHalfFormat},
            {"role", role},
            {"space", s.config().to_json()},
            {"arch", s.format_arch(net.arch())},
            {"split", split},
            {"splits", splits},
            {"block_range", {begin, end}},
            {"input", boundary_kind(s, begin)},
            {"output", boundary_kind(s, end)},
            {"input_shape", boundary(s, begin)},
            {"output_shape", boundary(s, end)},
            {"classes", s.num_classes()},
            {"normalizer", begin == 0 && end > 0 ? norm.to_json() : json(nullptr)},
            {"blocks", blocks_j},
            {"weights", "weights.pt"},
            {"onnx", onnx_file},
            {"onnx_opset", onnx_file.is_null() ? json(nullptr) : json(kOnnxOpset)}};
  write_json_atomic((dir / "model.json").string(), d);
  // Reading the half back proves that what was written is complete and consistent.
  SplitModel::load(dir.string());
  return {{"dir", role}, {"block_range", {begin, end}}, {"blocks", end - begin}, {"onnx", onnx_file}};
}

}  // namespace

json export_split(const NetworkImpl& net, const Normalizer& normalizer, const ExportOptions& opt,
                  const std::string& out_dir) {
  const Space& s = net.space();
  const int B = s.num_blocks(), p = opt.split;
  if (p < 0 || p > B) fail("split ", p, " out of range: expected 0..", B, " for space ", s.name());
  if (normalizer.channels() != s.input_shape().c)
    fail("the normaliser has ", normalizer.channels(), " channels, expected ", s.input_shape().c, " for space ",
         s.name());
  if (opt.encoding == Encoding::Raw) fail("payload encoding raw is only for split 0: expected fp32, fp16 or int8");
  fs::path out = fs::absolute(out_dir).lexically_normal();
  if (!out.has_filename()) out = out.parent_path();
  if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out)))
    fail(out_dir, " already exists and is not empty: choose another --out or remove it");

  std::vector<int> splits = opt.splits;
  splits.push_back(p);
  std::sort(splits.begin(), splits.end());
  splits.erase(std::unique(splits.begin(), splits.end()), splits.end());
  if (splits.front() < 0 || splits.back() > B)
    fail("splits ", splits.front(), "..", splits.back(), " out of range: expected 0..", B, " for space ", s.name());
  auto payload = [&](int q) {
    const Encoding e = q == 0 ? Encoding::Raw : opt.encoding;
    return json{{"shape", q == B ? json::array() : json(boundary(s, q))},
                {"encoding", q == B ? "none" : encoding_name(e)},
                {"bytes", s.payload_bytes(q, e)}};
  };
  json cuts = json::array();
  for (int q : splits) cuts.push_back({{"split", q}, {"payload", payload(q)}});
  json manifest = {{"format", kManifestFormat},
                   {"space", s.config().to_json()},
                   {"arch", s.format_arch(net.arch())},
                   {"split", p},
                   {"num_blocks", B},
                   {"payload", payload(p)},
                   {"splits", cuts},
                   {"classes", s.num_classes()},
                   {"normalizer", normalizer.to_json()},
                   {"latency", opt.latency},
                   {"source", opt.source}};

  const fs::path tmp = out.parent_path() / cat(out.filename().string(), ".tmp.", ::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    manifest["head"] = write_half(net, normalizer, p, splits, "head", 0, splits.back(), tmp / "head");
    manifest["tail"] = write_half(net, normalizer, p, splits, "tail", splits.front(), B, tmp / "tail");
    write_json_atomic((tmp / "manifest.json").string(), manifest);
    if (fs::exists(out)) fs::remove(out);  // empty, checked above
    fs::rename(tmp, out);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  return manifest;
}

}  // namespace nasc
