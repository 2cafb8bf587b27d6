#include "latency/profile.h"

#include <cmath>
#include <ctime>
#include <set>

#include "common/error.h"

namespace nasc {

namespace {

constexpr const char* kFormat = "nasc-hardware-profile";
constexpr int kFormatVersion = 1;

std::optional<int> optional_int(const json& j, const char* field, const std::string& ctx) {
  if (!j.contains(field)) fail(ctx, ": missing field '", field, "'");
  const json& v = j.at(field);
  if (v.is_null()) return std::nullopt;
  if (!v.is_number_integer()) fail(ctx, ": field '", field, "' must be an integer or null, got ", v.type_name());
  return v.get<int>();
}

json null_or(const std::optional<int>& v) { return v ? json(*v) : json(nullptr); }

// A latency value: a finite number >= 0; the message names the key and the file.
double checked_ms(const json& v, const std::string& key, const char* table, const std::string& source) {
  if (!v.is_number()) fail(source, ": ", table, "[\"", key, "\"] must be a number of milliseconds, got ", v.type_name());
  double ms = v.get<double>();
  if (!std::isfinite(ms) || ms < 0) fail(source, ": ", table, "[\"", key, "\"] = ", ms, " is not a finite value >= 0");
  return ms;
}

}  // namespace

std::string utc_timestamp() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string nasc_tool_version() {
#ifdef NASC_VERSION
  return std::string("nasc ") + NASC_VERSION;
#else
  return "nasc";
#endif
}

json ProfileMeta::to_json() const {
  json j = {{"device_class", device_class},
          {"description", description},
          {"processor", processor},
          {"libtorch_version", libtorch_version},
          {"threads", null_or(threads)},
          {"batch_size", batch_size},
          {"repetitions", null_or(repetitions)},
          {"date", date},
          {"tool_version", tool_version},
          {"notes", notes}};
  if (!fit.is_null()) j["fit"] = fit;
  return j;
}

ProfileMeta ProfileMeta::from_json(const json& j, const std::string& ctx) {
  if (!j.is_object()) fail(ctx, ": must be an object");
  ProfileMeta m;
  m.device_class = json_get<std::string>(j, "device_class", ctx);
  m.description = json_get<std::string>(j, "description", ctx);
  m.processor = json_get<std::string>(j, "processor", ctx);
  m.libtorch_version = json_get<std::string>(j, "libtorch_version", ctx);
  m.threads = optional_int(j, "threads", ctx);
  m.batch_size = json_get<int>(j, "batch_size", ctx);
  m.repetitions = optional_int(j, "repetitions", ctx);
  m.date = json_get<std::string>(j, "date", ctx);
  m.tool_version = json_get<std::string>(j, "tool_version", ctx);
  m.notes = json_get<std::string>(j, "notes", ctx);
  if (j.contains("fit")) {
    if (!j["fit"].is_object()) fail(ctx, ": field 'fit' must be an object (how the table was fitted)");
    m.fit = j["fit"];
  }
  // The latency model adds per-sample block latencies; a table taken at another batch size means something else.
  if (m.batch_size != 1) fail(ctx, ": batch_size = ", m.batch_size, ", expected 1 (latencies per single input)");
  if (m.threads && *m.threads < 1) fail(ctx, ": threads = ", *m.threads, ", expected >= 1 or null");
  if (m.repetitions && *m.repetitions < 1) fail(ctx, ": repetitions = ", *m.repetitions, ", expected >= 1 or null");
  return m;
}

HardwareProfile HardwareProfile::load(const std::string& path) { return from_json(read_json_file(path), path); }

HardwareProfile HardwareProfile::from_json(const json& j, const std::string& source) {
  if (!j.is_object()) fail(source, ": expected a hardware profile (JSON object with 'metadata' and 'latency_ms')");
  if (j.contains("format") && j["format"] != kFormat)
    fail(source, ": format is ", j["format"].dump(), ", expected \"", kFormat, "\"");
  if (j.contains("version") && j["version"] != kFormatVersion)
    fail(source, ": profile format version ", j["version"].dump(), " is not supported, expected ", kFormatVersion);
  HardwareProfile p;
  p.source_ = source;
  if (!j.contains("metadata")) fail(source, ": missing field 'metadata'");
  p.meta_ = ProfileMeta::from_json(j["metadata"], source + ": metadata");
  if (!j.contains("latency_ms") || !j["latency_ms"].is_object() || j["latency_ms"].empty())
    fail(source, ": field 'latency_ms' must be a non-empty object mapping block keys to milliseconds");
  for (auto& [key, v] : j["latency_ms"].items()) p.table_[key].ms = checked_ms(v, key, "latency_ms", source);
  if (j.contains("spread_ms")) {
    if (!j["spread_ms"].is_object()) fail(source, ": field 'spread_ms' must be an object mapping keys to milliseconds");
    for (auto& [key, v] : j["spread_ms"].items()) {
      auto it = p.table_.find(key);
      if (it == p.table_.end()) fail(source, ": spread_ms has key '", key, "' that latency_ms lacks");
      it->second.spread_ms = checked_ms(v, key, "spread_ms", source);
    }
  }
  return p;
}

json HardwareProfile::to_json() const {
  json lat = json::object(), spread = json::object();
  for (auto& [key, e] : table_) {
    lat[key] = e.ms;
    if (e.spread_ms) spread[key] = *e.spread_ms;
  }
  json j = {{"format", kFormat}, {"version", kFormatVersion}, {"metadata", meta_.to_json()}, {"latency_ms", lat}};
  if (!spread.empty()) j["spread_ms"] = spread;
  return j;
}

void HardwareProfile::save(const std::string& path) const {
  // Validate what is written, so that a file this program writes is always one it can read back.
  from_json(to_json(), path);
  write_json_atomic(path, to_json());
}

double HardwareProfile::ms(const std::string& key) const {
  auto it = table_.find(key);
  if (it == table_.end())
    fail("hardware profile ", source_, " has no latency for block key '", key,
         "': expected a profile measured for this space (nasc profile --space ...)");
  return it->second.ms;
}

void HardwareProfile::set(const std::string& key, double ms, std::optional<double> spread_ms) {
  if (!std::isfinite(ms) || ms < 0) fail("latency of '", key, "' = ", ms, " ms: expected a finite value >= 0");
  table_[key] = {ms, spread_ms};
}

std::vector<std::string> HardwareProfile::missing_keys(const Space& space) const {
  std::vector<std::string> missing;
  for (auto& k : space_keys(space))
    if (!contains(k)) missing.push_back(k);
  return missing;
}

void HardwareProfile::require(const Space& space) const {
  auto missing = missing_keys(space);
  if (missing.empty()) return;
  std::string more = missing.size() > 1 ? cat(" (and ", missing.size() - 1, " more)") : "";
  fail("hardware profile ", source_, " has no latency for block key '", missing[0], "'", more, " needed by space ",
       space.name(), ": expected a profile measured for this space (nasc profile --space ", space.name(), ")");
}

std::vector<std::string> space_keys(const Space& space) {
  std::vector<std::string> keys;
  std::set<std::string> seen;
  auto add = [&](const std::vector<std::string>& ks) {
    for (auto& k : ks)
      if (seen.insert(k).second) keys.push_back(k);
  };
  for (int b = 0; b < space.num_blocks(); ++b) {
    if (space.block(b).kind == BlockKind::Layer)
      for (int o = 0; o < space.num_ops(); ++o) add(space.block_keys(b, o));
    else
      add(space.block_keys(b, 0));
  }
  return keys;
}

}  // namespace nasc
