#include "latency/link_trace.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/csv.h"
#include "common/error.h"

namespace nasc {
namespace {

// Traces of hours are a few MB; a cap keeps a wrong file (a video, /dev/zero) from being read into memory.
constexpr uintmax_t kMaxTraceBytes = 16u << 20;

double parse_field(const std::string& field, const std::string& where, const char* expected) {
  const std::optional<double> v = parse_number(field);
  if (!v || *v < 0) fail(where, ": '", field, "': expected ", expected);
  return *v;
}

}  // namespace

LinkTrace LinkTrace::load(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) fail("cannot open link trace ", path, ": expected a Mahimahi or CSV trace file");
  if (size > kMaxTraceBytes)
    fail("link trace ", path, " holds ", size, " bytes: expected at most ", kMaxTraceBytes, " (a trace file)");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in) fail("cannot read link trace ", path);
  return parse(ss.str(), path);
}

LinkTrace LinkTrace::parse(const std::string& text, const std::string& source) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) fail("link trace ", source, " is empty: expected delivery times or CSV rows");
  LinkTrace t;
  t.name_ = std::filesystem::path(source).filename().string();
  if (std::isdigit(static_cast<unsigned char>(text[first]))) {
    t.format_ = "mahimahi";
    t.packets_ = true;
    std::istringstream in(text);
    std::string line;
    double last = 0;
    for (int n = 1; std::getline(in, line); ++n) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      const double ms = parse_field(line, cat(source, " line ", n), "a delivery time in whole ms");
      if (ms != std::floor(ms) || ms < last)
        fail(source, " line ", n, ": '", line, "': expected a delivery time in whole ms, not before the line "
             "above's ", last);
      t.starts_.push_back(ms);
      last = ms;
    }
    t.period_ = last;
    t.per_period_ = kMahimahiPacketBytes * double(t.starts_.size());
    if (t.period_ <= 0)
      fail(source, ": every delivery is at 0 ms: expected a trace that lasts (its last time is its length)");
    return t;
  }
  const CsvTable csv = parse_csv(text, source);
  const int sec = csv.column("seconds"), rate = csv.column("mbps");
  const auto has_delay = std::find(csv.header.begin(), csv.header.end(), "delay_ms");
  const int delay = has_delay == csv.header.end() ? -1 : int(has_delay - csv.header.begin());
  if (csv.rows.empty()) fail("link trace ", source, " has a header and no rows: expected seconds,mbps rows");
  std::vector<double> at;
  std::vector<Segment> segs;
  for (size_t i = 0; i < csv.rows.size(); ++i) {
    const std::string where = cat(source, " line ", csv.lines[i]);
    const auto& row = csv.rows[i];
    at.push_back(parse_field(row[size_t(sec)], where, "seconds from the start, >= 0"));
    if (i == 0 && at[0] != 0) fail(where, ": the first row starts at ", at[0], " s: expected 0");
    if (i > 0 && at[i] <= at[i - 1])
      fail(where, ": ", at[i], " s: expected a time after the row above's ", at[i - 1], " s");
    Segment s;
    s.mbps = parse_field(row[size_t(rate)], where, "a bandwidth in Mbit/s, >= 0");
    if (delay >= 0) s.delay_ms = parse_field(row[size_t(delay)], where, "a one-way delay in ms, >= 0");
    segs.push_back(s);
  }
  for (size_t i = 0; i < segs.size(); ++i)
    segs[i].seconds = i + 1 < segs.size() ? at[i + 1] - at[i] : i > 0 ? at[i] - at[i - 1] : 1.0;
  t = from_segments(segs, source);
  t.format_ = "csv";
  return t;
}

LinkTrace LinkTrace::from_segments(const std::vector<Segment>& segments, const std::string& name) {
  LinkTrace t;
  t.name_ = std::filesystem::path(name).filename().string();
  t.format_ = "segments";
  double at = 0, through = 0;
  for (const Segment& s : segments) {
    if (!(s.seconds > 0) || !std::isfinite(s.seconds) || !(s.mbps >= 0) || !std::isfinite(s.mbps) ||
        !(s.delay_ms >= 0) || !std::isfinite(s.delay_ms))
      fail("link trace ", name, ": segment of ", s.seconds, " s at ", s.mbps, " Mbit/s, delay ", s.delay_ms,
           " ms: expected a duration > 0, a bandwidth >= 0 and a delay >= 0");
    t.starts_.push_back(at);
    t.rates_.push_back(s.mbps * 125.0);  // Mbit/s -> bytes per ms
    t.delays_.push_back(s.delay_ms);
    at += s.seconds * 1000;
    through += t.rates_.back() * s.seconds * 1000;
    t.through_.push_back(through);
  }
  t.period_ = at;
  t.per_period_ = through;
  if (!(through > 0)) fail("link trace ", name, " never delivers a byte: expected a bandwidth > 0 somewhere");
  return t;
}

double LinkTrace::cumulative(double t) const {
  if (packets_) return kMahimahiPacketBytes * double(std::lower_bound(starts_.begin(), starts_.end(), t) - starts_.begin());
  const size_t i = size_t(std::upper_bound(starts_.begin(), starts_.end(), t) - starts_.begin()) - 1;
  return (i > 0 ? through_[i - 1] : 0.0) + rates_[i] * (t - starts_[i]);
}

double LinkTrace::first_time_reaching(double bytes) const {
  if (packets_) {
    const double k = std::ceil(bytes / kMahimahiPacketBytes - 1e-9);
    return starts_[std::clamp<size_t>(size_t(std::max(1.0, k)) - 1, 0, starts_.size() - 1)];
  }
  size_t j = size_t(std::lower_bound(through_.begin(), through_.end(), bytes) - through_.begin());
  j = std::min(j, through_.size() - 1);
  while (rates_[j] <= 0 && j > 0) --j;  // rounding landed on an outage: it ended where the segment before did
  const double before = j > 0 ? through_[j - 1] : 0.0;
  return starts_[j] + std::max(0.0, bytes - before) / rates_[j];
}

double LinkTrace::delay_at(double t) const {
  if (packets_) return 0;
  return delays_[size_t(std::upper_bound(starts_.begin(), starts_.end(), t) - starts_.begin()) - 1];
}

double LinkTrace::transfer_ms(int64_t bytes, double t_ms) const {
  if (bytes <= 0) return 0;
  if (!(t_ms >= 0) || !std::isfinite(t_ms)) fail("link trace ", name_, ": time ", t_ms, " ms: expected >= 0");
  const double loops = std::floor(t_ms / period_);
  const double t0 = std::min(t_ms - loops * period_, std::nextafter(period_, 0.0));
  // Bytes to have been delivered, counted from the start of t's loop; whole further loops are skipped at once.
  const double goal = cumulative(t0) + double(bytes);
  double more = std::floor(goal / per_period_), rest = goal - more * per_period_;
  if (rest <= 0) more -= 1, rest = per_period_;
  const double done = (loops + more) * period_ + first_time_reaching(rest);
  return std::max(0.0, done - t_ms) + delay_at(t0);
}

double LinkTrace::delivered(double t_ms, double ms) const {
  auto global = [&](double t) {
    const double loops = std::floor(t / period_);
    return loops * per_period_ + cumulative(t - loops * period_);
  };
  return global(t_ms + ms) - global(t_ms);
}

std::vector<double> LinkTrace::window_mbps(double window_ms) const {
  std::vector<double> out;
  for (double t = 0; t + window_ms <= period_ + 1e-9; t += window_ms)
    out.push_back(delivered(t, window_ms) * 8.0 / (window_ms * 1000.0));
  return out;
}

double LinkTrace::mean_mbps() const { return per_period_ * 8.0 / (period_ * 1000.0); }

}  // namespace nasc
