#include "common/progress.h"

#include <cstdio>
#include <unistd.h>

namespace nasc {

Progress::Progress(std::string label, double min_interval_s)
    : label_(std::move(label)),
      tty_(::isatty(STDERR_FILENO)),
      interval_(min_interval_s >= 0 ? min_interval_s : (tty_ ? 0.2 : 10.0)),
      start_(std::chrono::steady_clock::now()),
      last_(start_ - std::chrono::hours(1)) {}

std::string Progress::format_seconds(double s) {
  if (s < 0 || s != s) return "?";
  char buf[32];
  long t = long(s + 0.5);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

bool Progress::due() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - last_).count() >= interval_;
}

void Progress::update(int64_t done, int64_t total, const std::string& detail, bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && std::chrono::duration<double>(now - last_).count() < interval_) return;
  last_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double eta = done > 0 ? elapsed * double(total - done) / double(done) : -1;
  std::fprintf(stderr, "%s%s %lld/%lld %s | %s elapsed, ETA %s%s", tty_ ? "\r\033[K" : "", label_.c_str(),
               (long long)done, (long long)total, detail.c_str(), format_seconds(elapsed).c_str(),
               format_seconds(eta).c_str(), tty_ ? "" : "\n");
  std::fflush(stderr);
  dirty_ = tty_;
}

void Progress::finish(const std::string& line) {
  std::fprintf(stderr, "%s%s\n", dirty_ ? "\r\033[K" : "", line.c_str());
  std::fflush(stderr);
  dirty_ = false;
}

}  // namespace nasc
