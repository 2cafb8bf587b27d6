// Live progress of long runs on stderr: one updating line on a terminal, a line every few seconds otherwise
// (so CI logs and `| tee` stay readable).
#pragma once
#include <chrono>
#include <string>

namespace nasc {

class Progress {
 public:
  explicit Progress(std::string label, double min_interval_s = -1);
  // done/total units of work; `detail` follows the counter. Rate-limited: cheap to call every step.
  void update(int64_t done, int64_t total, const std::string& detail, bool force = false);
  bool due() const;  // whether update() would print now
  void finish(const std::string& line);  // ends the updating line with a permanent one
  static std::string format_seconds(double s);  // 75 -> "1m15s"

 private:
  std::string label_;
  bool tty_;
  double interval_;
  std::chrono::steady_clock::time_point start_, last_;
  bool dirty_ = false;
};

}  // namespace nasc
