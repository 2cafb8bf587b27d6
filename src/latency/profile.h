// A hardware profile (ARCHITECTURE.md §3): block key -> milliseconds at batch size 1 on one machine, with the
// provenance of the measurement. Keys follow HW-NAS-Bench naming so that its published tables load unchanged.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/json_io.h"
#include "space/space.h"

namespace nasc {

// Where and how the table was measured. Every field must be present in the file; `threads` and `repetitions`
// may be null where the source does not say (tables imported from HW-NAS-Bench).
struct ProfileMeta {
  std::string device_class;  // role the machine plays: "device" (IoT end) or "server" (edge server)
  std::string description;   // free text: what the machine is
  std::string processor;     // CPU model or GPU name
  std::string libtorch_version;
  std::optional<int> threads;
  int batch_size = 1;
  std::optional<int> repetitions;  // fewest timed runs behind any one entry
  std::string date;                // ISO 8601
  std::string tool_version;
  std::string notes;
  // Only for a table fitted from whole-network timings (fit-profile): the source, the rule that apportions
  // what the timings cannot divide, and the fit's quality. Null otherwise, and then absent from the file.
  json fit;

  json to_json() const;
  static ProfileMeta from_json(const json& j, const std::string& context);
};

struct ProfileEntry {
  double ms = 0;
  std::optional<double> spread_ms;  // interquartile range of the timed runs, where measured
};

class HardwareProfile {
 public:
  HardwareProfile() = default;

  // Reads and validates a profile file; every error names the file (and the key or field at fault).
  static HardwareProfile load(const std::string& path);
  static HardwareProfile from_json(const json& j, const std::string& source);
  json to_json() const;
  void save(const std::string& path) const;  // atomic: never a half-written file

  // Latency of one key; a key the table lacks is an error naming the key and the profile's source.
  double ms(const std::string& key) const;
  bool contains(const std::string& key) const { return table_.count(key) > 0; }
  void set(const std::string& key, double ms, std::optional<double> spread_ms = std::nullopt);

  // Keys of `space` this profile lacks, in the order the space lists them.
  std::vector<std::string> missing_keys(const Space& space) const;
  // Throws naming the first missing key (and how many more) when the profile cannot serve `space`.
  void require(const Space& space) const;

  const std::map<std::string, ProfileEntry>& entries() const { return table_; }
  const ProfileMeta& meta() const { return meta_; }
  ProfileMeta& meta() { return meta_; }
  const std::string& source() const { return source_; }
  void set_source(std::string s) { source_ = std::move(s); }

 private:
  ProfileMeta meta_;
  std::map<std::string, ProfileEntry> table_;
  std::string source_ = "(in-memory profile)";
};

// Stamps for ProfileMeta: the current UTC time in ISO 8601, and "nasc <version>".
std::string utc_timestamp();
std::string nasc_tool_version();

// Every distinct key that the blocks of `space` need (stem, every op at every layer, head parts), first
// occurrence order. A profile for the space must contain all of them.
std::vector<std::string> space_keys(const Space& space);

}  // namespace nasc
