#include "latency/profiler.h"

#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include "common/error.h"
#include "common/stats.h"
#include "nn/blocks.h"

namespace nasc {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// One key to time: a module that maps an input of `input_shape` to its output.
struct Probe {
  std::string key;
  std::vector<int64_t> input_shape;
  std::function<torch::Tensor(const torch::Tensor&)> run;
};

std::vector<int64_t> nchw(const Shape& s) { return {1, s.c, s.h, s.w}; }

// The blocks of every key, deduplicated by key (layers of a stage share geometry and so share keys).
std::vector<Probe> make_probes(const Space& space, const torch::Device& device) {
  std::vector<Probe> probes;
  std::map<std::string, bool> seen;
  auto add_block = [&](int b, int op) {
    auto keys = space.block_keys(b, op);
    if (keys.size() != 1 || seen[keys[0]]) return;
    seen[keys[0]] = true;
    std::shared_ptr<BlockModule> m = make_block(space, b, op);
    m->to(device);
    m->eval();
    probes.push_back({keys[0], nchw(space.block(b).in), [m](const torch::Tensor& x) { return m->forward(x); }});
  };
  add_block(0, 0);
  for (int b = 1; b + 1 < space.num_blocks(); ++b)
    for (int o = 0; o < space.num_ops(); ++o) add_block(b, o);
  // The head as HW-NAS-Bench splits it: 1x1 ConvNorm, AvgP, FC; each part timed on its own input.
  const int head = space.num_blocks() - 1;
  auto keys = space.block_keys(head, 0);
  auto parts = make_head_parts(space);
  if (keys.size() != parts.size()) fail("head has ", keys.size(), " keys but ", parts.size(), " parts");
  std::vector<int64_t> shape = nchw(space.block(head).in);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < parts.size(); ++i) {
    auto part = parts[i];
    part->to(device);
    part->eval();
    torch::Tensor out = run_head_part(part, torch::randn(shape, device));
    if (!seen[keys[i]]) {
      seen[keys[i]] = true;
      probes.push_back({keys[i], shape, [part](const torch::Tensor& x) { return run_head_part(part, x); }});
    }
    shape = out.sizes().vec();
  }
  return probes;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  double one = -1;
  in >> one;
  return in ? cat(one) : "unknown";
}

std::string fmt_ms(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", ms);
  return buf;
}

}  // namespace

TimingStats timing_stats(std::vector<double> v) {
  TimingStats s;
  s.n = int(v.size());
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.median = quantile_sorted(v, 0.5);
  s.q1 = quantile_sorted(v, 0.25);
  s.q3 = quantile_sorted(v, 0.75);
  double half = 1.96 * std::sqrt(double(s.n)) / 2;
  int lo = std::max(0, int(std::floor(s.n / 2.0 - half)) - 1);
  int hi = std::min(s.n - 1, int(std::ceil(s.n / 2.0 + half)));
  s.ci_low = v[lo];
  s.ci_high = v[hi];
  return s;
}

std::string processor_name(bool cuda) {
  if (cuda) {
    // LibTorch's C++ API has no portable device-name query in CPU-only builds; nvidia-smi does.
    if (FILE* p = popen("nvidia-smi --query-gpu=name --format=csv,noheader -i 0 2>/dev/null", "r")) {
      char buf[256] = {0};
      std::string name = fgets(buf, sizeof buf, p) ? buf : "";
      pclose(p);
      while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
      if (!name.empty()) return name;
    }
    return "CUDA device (name unknown)";
  }
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      std::string name = line.substr(line.find(':') + 1);
      name.erase(0, name.find_first_not_of(" \t"));
      return cat(name, " (", std::thread::hardware_concurrency(), " logical cores)");
    }
  return "unknown";
}

namespace {

// Times one probe: warm-up, then timed runs until the median's confidence interval is tight enough or a bound on
// runs or seconds is reached.
TimingStats time_probe(const Probe& p, const ProfilerOptions& o, torch::Device device, bool cuda) {
  auto sync = [cuda] {
    if (cuda) torch::cuda::synchronize();
  };
  torch::Tensor x = torch::randn(p.input_shape, device);
  auto t0 = Clock::now();
  for (int w = 0; w < 3 || seconds_since(t0) < o.warmup_seconds; ++w) p.run(x);
  sync();
  std::vector<double> ms;
  TimingStats st;
  auto timing_start = Clock::now();
  while (true) {
    auto t = Clock::now();
    p.run(x);
    sync();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
    int n = int(ms.size());
    if (n < o.min_reps) continue;
    // Re-sorting every run would cost more than small blocks take; check the interval at growing counts.
    bool check = n == o.min_reps || n % std::max(10, n / 10) == 0 || n >= o.max_reps;
    if (!check) continue;
    st = timing_stats(ms);
    if (st.rel_ci_half_width() <= o.target_rel_ci || n >= o.max_reps ||
        seconds_since(timing_start) >= o.max_seconds_per_key)
      return st;
  }
}

// Validates the options and picks the device (throws Error naming the bad option).
bool profiler_uses_cuda(const ProfilerOptions& o) {
  if (o.min_reps < 3 || o.max_reps < o.min_reps)
    fail("profiler repetitions: expected 3 <= min (", o.min_reps, ") <= max (", o.max_reps, ")");
  if (!(o.target_rel_ci > 0) || !(o.max_seconds_per_key > 0) || !(o.warmup_seconds >= 0))
    fail("profiler: target CI and time per key must be > 0, warm-up >= 0");
  bool cuda = o.device == "cuda" || (o.device == "auto" && torch::cuda::is_available());
  if (o.device != "cpu" && o.device != "cuda" && o.device != "auto")
    fail("profiler device '", o.device, "': expected cpu, cuda or auto");
  if (cuda && !torch::cuda::is_available())
    fail("profiler device cuda: LibTorch sees no CUDA device (CPU-only build or no GPU); use --device cpu");
  if (o.threads < 0) fail("profiler threads = ", o.threads, ": expected 0 (all cores) or more");
  return cuda;
}

}  // namespace

HardwareProfile profile_space(const Space& space, const ProfilerOptions& o, std::ostream* progress) {
  const bool cuda = profiler_uses_cuda(o);
  int threads = o.threads > 0 ? o.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  torch::Device device = cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);

  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  std::vector<Probe> probes = make_probes(space, device);
  std::string load_before = load_average();

  HardwareProfile prof;
  ProfileMeta& m = prof.meta();
  m.device_class = o.device_class;
  m.processor = processor_name(cuda);
  m.libtorch_version = TORCH_VERSION;
  m.threads = torch::get_num_threads();
  m.batch_size = 1;
  m.date = utc_timestamp();
  m.tool_version = nasc_tool_version();
  m.description = !o.description.empty() ? o.description
                                         : cat(cuda ? "CUDA " : "CPU ", m.processor, ", ", *m.threads, " thread(s)");

  const auto start = Clock::now();
  int fewest = o.max_reps;
  for (size_t i = 0; i < probes.size(); ++i) {
    const Probe& p = probes[i];
    TimingStats st = time_probe(p, o, device, cuda);
    prof.set(p.key, st.median, st.iqr());
    fewest = std::min(fewest, st.n);
    if (progress) {
      double elapsed = seconds_since(start);
      double eta = elapsed / double(i + 1) * double(probes.size() - i - 1);
      *progress << "[" << i + 1 << "/" << probes.size() << "] " << p.key << ": " << fmt_ms(st.median)
                << " ms (IQR " << fmt_ms(st.iqr()) << ", n=" << st.n << ", CI +-"
                << fmt_ms(100 * st.rel_ci_half_width()) << "%), ETA " << int(eta) << " s" << std::endl;
    }
  }
  m.repetitions = fewest;
  m.notes = cat(o.notes.empty() ? "" : o.notes + "; ", "median per key of at least ", o.min_reps,
                " timed runs after warm-up, until the median's 95% CI is within +-", 100 * o.target_rel_ci, "% or ",
                o.max_seconds_per_key, " s per key; eval mode, no grad, batch 1, input in ", cuda ? "GPU" : "CPU",
                " memory; spread_ms = IQR; load average ", load_before, " before, ", load_average(), " after; ",
                int(seconds_since(start)), " s in all");
  return prof;
}

}  // namespace nasc
