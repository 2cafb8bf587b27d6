// A recorded link whose bandwidth varies in time, looping at its end: what it takes to send a payload that starts
// at time t. Read from a Mahimahi delivery trace or a CSV of seconds, Mbit/s and delay (docs/LINK-TRACES.md).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace nasc {

class LinkTrace {
 public:
  // Mahimahi (one delivery opportunity of 1,500 bytes per line, its time in ms; repeated times are several
  // packets) or CSV with the header `seconds,mbps[,delay_ms]` (each row's rate holds from its time to the next
  // row's; the last row lasts as long as the gap before it). Throws naming the file and line of what is wrong.
  static LinkTrace load(const std::string& path);
  static LinkTrace parse(const std::string& text, const std::string& source);

  struct Segment {
    double seconds = 1;  // how long it lasts
    double mbps = 0;     // >= 0; not all zero
    double delay_ms = 0;
  };
  static LinkTrace from_segments(const std::vector<Segment>& segments, const std::string& name);

  // Milliseconds from t (any t >= 0; the trace loops) until the last of `bytes` is delivered, plus the trace's
  // one-way delay at t (CSV traces; Mahimahi ones carry none). 0 for 0 bytes.
  double transfer_ms(int64_t bytes, double t_ms) const;
  // Bytes the link delivers in [t, t + ms).
  double delivered(double t_ms, double ms) const;
  // Mbit/s in each whole window of `window_ms` of one period.
  std::vector<double> window_mbps(double window_ms = 1000) const;
  double mean_mbps() const;

  double period_ms() const { return period_; }
  const std::string& name() const { return name_; }
  const std::string& format() const { return format_; }  // "mahimahi" or "csv"

  static constexpr double kMahimahiPacketBytes = 1500;

 private:
  double cumulative(double t_in_period) const;     // bytes delivered in [0, t)
  double first_time_reaching(double bytes) const;  // earliest t in (0, period] by which `bytes` are delivered
  double delay_at(double t_in_period) const;

  std::string name_, format_;
  bool packets_ = false;  // Mahimahi: starts_ are delivery times, each of one packet
  std::vector<double> starts_;   // ms: packet times, or segment starts
  std::vector<double> rates_;    // bytes per ms of each segment (segments only)
  std::vector<double> delays_;   // ms of each segment (segments only)
  std::vector<double> through_;  // bytes delivered by the end of each packet / segment
  double period_ = 0, per_period_ = 0;
};

}  // namespace nasc
