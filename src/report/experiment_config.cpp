#include "report/experiment_config.h"

#include <cctype>
#include <cmath>
#include <filesystem>
#include <set>

#include "common/error.h"
#include "data/data_spec.h"
#include "search/strategy.h"

namespace nasc {

namespace fs = std::filesystem;

namespace {

const std::set<std::string> kConfigFields = {"name",       "space",  "data",     "encoding",          "delay_ms",
                                             "return_result", "scenarios", "min_device_blocks", "bandwidths_mbps",
                                             "threshold_fractions", "threshold_quantiles", "seeds", "strategies", "search", "retrain",
                                             "retrain_as_deployed", "truth", "comment"};

bool name_safe(const std::string& s) {
  if (s.empty() || s == "." || s == "..") return false;
  for (char c : s)
    if (!(std::isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

// Fields of a nested options object must be ones the options know: a misspelt budget would silently be ignored.
void check_fields(const json& j, const json& known, const std::string& ctx) {
  if (!j.is_object()) fail(ctx, ": expected a JSON object, got ", j.type_name());
  for (auto& [k, v] : j.items())
    if (!known.contains(k)) {
      std::string names;
      for (auto& [n, _] : known.items()) names += (names.empty() ? "" : ", ") + n;
      fail(ctx, ": unknown field '", k, "'; expected one of ", names);
    }
}

template <class T>
void require_distinct(const std::vector<T>& values, const std::string& ctx, const char* field, const char* what) {
  if (std::set<T>(values.begin(), values.end()).size() != values.size())
    fail(ctx, ": '", field, "' lists ", what, " twice");
}

}  // namespace

ScenarioSpec ScenarioSpec::from_json(const json& s, const std::string& sctx) {
  check_fields(s,
               {{"name", 0}, {"device_profile", 0}, {"server_profile", 0}, {"optional", 0}, {"link_trace", 0},
                {"latency_quantile", 0}},
               sctx);
  ScenarioSpec sp;
  sp.name = json_get<std::string>(s, "name", sctx);
  if (!name_safe(sp.name)) fail(sctx, ": name '", sp.name, "' must be letters, digits, '-', '_' or '.'");
  sp.device_profile = json_get<std::string>(s, "device_profile", sctx);
  sp.server_profile = json_get<std::string>(s, "server_profile", sctx);
  sp.optional = json_get_or(s, "optional", false, sctx);
  sp.link_trace = json_get_or<std::string>(s, "link_trace", "", sctx);
  if (s.contains("latency_quantile") && sp.link_trace.empty())
    fail(sctx, ": latency_quantile needs link_trace: the quantile is over a recorded uplink");
  sp.latency_quantile = json_get_or(s, "latency_quantile", 0.95, sctx);
  if (!(sp.latency_quantile >= 0 && sp.latency_quantile <= 1))
    fail(sctx, ": latency_quantile ", sp.latency_quantile, ": expected 0..1 (0.5 the median, 0.95 the p95)");
  return sp;
}

json ScenarioSpec::to_json() const {
  json j = {{"name", name}, {"device_profile", device_profile}, {"server_profile", server_profile},
            {"optional", optional}};
  if (!link_trace.empty()) j["link_trace"] = link_trace, j["latency_quantile"] = latency_quantile;
  return j;
}

json ExperimentConfig::to_json() const {
  json sc = json::array();
  for (auto& s : scenarios) sc.push_back(s.to_json());
  std::vector<int64_t> sd(seeds.begin(), seeds.end());
  json j = {{"name", name},
          {"space", space},
          {"data", data},
          {"encoding", encoding},
          {"delay_ms", delay_ms},
          {"return_result", return_result},
          {"scenarios", sc},
          {"min_device_blocks", min_device_blocks},
          {"bandwidths_mbps", bandwidths_mbps},
          {"seeds", sd},
          {"strategies", strategies},
          {"search", search.to_json()},
          {"retrain", retrain.to_json()},
          {"retrain_as_deployed", retrain_as_deployed}};
  // One rule or the other, so that experiment.json files written before quantiles read back unchanged.
  if (threshold_quantiles.empty()) j["threshold_fractions"] = threshold_fractions;
  else j["threshold_quantiles"] = threshold_quantiles;
  if (!truth.empty()) j["truth"] = truth;
  return j;
}

namespace {

// threshold_fractions or threshold_quantiles, exactly one of them.
void read_thresholds(const json& j, const std::string& ctx, ExperimentConfig& c) {
  if (j.contains("threshold_fractions") == j.contains("threshold_quantiles"))
    fail(ctx, ": expected exactly one of 'threshold_fractions' (T = floor + f * (accuracy-only - floor)) and "
              "'threshold_quantiles' (T = a quantile of the space's latency)");
  if (j.contains("threshold_fractions")) {
    c.threshold_fractions = json_get<std::vector<double>>(j, "threshold_fractions", ctx);
    if (c.threshold_fractions.empty()) fail(ctx, ": 'threshold_fractions' is empty; expected e.g. [0.25, 0.5, 0.75]");
    for (double f : c.threshold_fractions)
      if (!(f > 0 && f <= 1))
        fail(ctx, ": threshold fraction ", f, ": expected 0 < f <= 1 (T = floor + f * (accuracy-only - floor))");
    require_distinct(c.threshold_fractions, ctx, "threshold_fractions", "a value");
  } else {
    c.threshold_quantiles = json_get<std::vector<double>>(j, "threshold_quantiles", ctx);
    if (c.threshold_quantiles.empty()) fail(ctx, ": 'threshold_quantiles' is empty; expected e.g. [0.25, 0.5, 0.75]");
    for (double q : c.threshold_quantiles)
      if (!(q > 0 && q < 1))
        fail(ctx, ": threshold quantile ", q, ": expected 0 < q < 1 (a quantile of the space's latency)");
    require_distinct(c.threshold_quantiles, ctx, "threshold_quantiles", "a value");
  }
}

}  // namespace

// One check per field, in the order of the file format (docs/USAGE.md, "nasc experiment"), so that a reader sees
// every rule and its message in one place.
ExperimentConfig ExperimentConfig::from_json(const json& j, const std::string& ctx) {
  if (!j.is_object()) fail(ctx, ": expected a JSON object describing an experiment");
  for (auto& [k, v] : j.items())
    if (!kConfigFields.count(k)) {
      std::string names;
      for (auto& n : kConfigFields) names += (names.empty() ? "" : ", ") + n;
      fail(ctx, ": unknown field '", k, "'; expected one of ", names);
    }
  ExperimentConfig c;
  c.name = json_get_or(j, "name", c.name, ctx);
  if (!name_safe(c.name)) fail(ctx, ": name '", c.name, "' must be letters, digits, '-', '_' or '.'");
  c.space = json_get_or(j, "space", c.space, ctx);
  c.data = json_get_or(j, "data", c.data, ctx);
  DataSpec::parse(c.data);
  c.encoding = json_get_or(j, "encoding", c.encoding, ctx);
  if (c.encoding != "fp32" && c.encoding != "fp16" && c.encoding != "int8")
    fail(ctx, ": encoding '", c.encoding, "': expected fp32, fp16 or int8");
  c.delay_ms = json_get_or(j, "delay_ms", c.delay_ms, ctx);
  if (!(c.delay_ms >= 0) || !std::isfinite(c.delay_ms)) fail(ctx, ": delay_ms = ", c.delay_ms, ": expected >= 0");
  c.return_result = json_get_or(j, "return_result", c.return_result, ctx);

  if (!j.contains("scenarios") || !j["scenarios"].is_array() || j["scenarios"].empty())
    fail(ctx, ": 'scenarios' must be a non-empty list of {name, device_profile, server_profile[, optional, link_trace, "
         "latency_quantile]}");
  std::set<std::string> names;
  for (size_t i = 0; i < j["scenarios"].size(); ++i) {
    const json& s = j["scenarios"][i];
    std::string sctx = cat(ctx, " scenarios[", i, "]");
    ScenarioSpec sp = ScenarioSpec::from_json(s, sctx);
    if (!names.insert(sp.name).second) fail(sctx, ": scenario name '", sp.name, "' is used twice");
    c.scenarios.push_back(sp);
  }

  Space space(SpaceConfig::load(c.space));
  c.min_device_blocks = json_get_or(j, "min_device_blocks", c.min_device_blocks, ctx);
  if (c.min_device_blocks.empty()) fail(ctx, ": 'min_device_blocks' is empty; expected e.g. [1, 0]");
  for (int m : c.min_device_blocks)
    if (m < 0 || m > space.num_blocks()) fail(ctx, ": min_device_blocks ", m, ": expected 0..", space.num_blocks());
  require_distinct(c.min_device_blocks, ctx, "min_device_blocks", "a value");

  c.bandwidths_mbps = json_get<std::vector<double>>(j, "bandwidths_mbps", ctx);
  if (c.bandwidths_mbps.empty()) fail(ctx, ": 'bandwidths_mbps' is empty; expected e.g. [1, 10, 100]");
  for (double b : c.bandwidths_mbps)
    if (!(b > 0) || !std::isfinite(b)) fail(ctx, ": bandwidth ", b, " Mbit/s: expected a positive number");
  require_distinct(c.bandwidths_mbps, ctx, "bandwidths_mbps", "a value");

  read_thresholds(j, ctx, c);

  auto seeds = json_get<std::vector<int>>(j, "seeds", ctx);
  if (seeds.empty()) fail(ctx, ": 'seeds' is empty; expected e.g. [1, 2, 3]");
  for (int s : seeds)
    if (s < 0) fail(ctx, ": seed ", s, ": expected a non-negative whole number");
  require_distinct(seeds, ctx, "seeds", "a seed");
  c.seeds.assign(seeds.begin(), seeds.end());

  c.strategies = json_get<std::vector<std::string>>(j, "strategies", ctx);
  std::set<std::string> seen;
  for (auto& s : c.strategies) {
    std::string canonical = Strategy::parse(s, space).name();
    if (!seen.insert(canonical).second) fail(ctx, ": strategy '", s, "' is listed twice");
    s = canonical;
  }
  if (!seen.count("accuracy-only") && c.threshold_quantiles.empty())
    fail(ctx, ": 'strategies' must include accuracy-only: threshold fractions are placed relative to its latency "
              "(threshold quantiles are not, and make it optional)");

  json sj = j.value("search", json::object()), rj = j.value("retrain", json::object());
  check_fields(rj, TrainOptions().to_json(), ctx + " retrain");
  c.search = SearchOptions::from_json(sj, ctx + " search");
  c.retrain = TrainOptions::from_json(rj, ctx + " retrain");
  c.retrain_as_deployed = json_get_or(j, "retrain_as_deployed", false, ctx);
  c.truth = json_get_or<std::string>(j, "truth", "", ctx);
  return c;
}

ExperimentConfig ExperimentConfig::load(const std::string& path, const std::vector<std::string>& search_dirs) {
  ExperimentConfig c = from_json(read_json_file(path), path);
  std::vector<fs::path> bases = {fs::path("."), fs::path(path).parent_path()};
  for (auto& d : search_dirs) bases.push_back(d);
  auto resolve = [&](std::string& p) {
    if (fs::path(p).is_absolute()) return;
    for (auto& b : bases)
      if (fs::exists(b / p)) {
        p = (b / p).lexically_normal().string();
        return;
      }
  };
  for (auto& s : c.scenarios) {
    resolve(s.device_profile);
    resolve(s.server_profile);
    if (!s.link_trace.empty()) resolve(s.link_trace);
  }
  // A space given as a file resolves like the profiles.
  if (c.space.find('/') != std::string::npos || c.space.find(".json") != std::string::npos) resolve(c.space);
  if (!c.truth.empty()) resolve(c.truth);
  return c;
}

}  // namespace nasc
