// How well the latency model's sum of per-block profile entries predicts the measured latency of whole
// stand-alone networks and of heads cut at random splits (fmnist, CPU, batch 1, eval mode).
// Prints Spearman rank correlation, MAPE and the fitted per-block overhead.
// Run: build/bench_latency_fidelity [--profile profiles/cpu1-fmnist.json] [--archs 30] [--reps 200]
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>

#include "common/stats.h"
#include "latency/estimator.h"
#include "latency/profiler.h"
#include "nn/network.h"

using namespace nasc;

namespace {

// Least-squares fit of residual = a * blocks + b.
std::pair<double, double> fit_line(const std::vector<double>& x, const std::vector<double>& y) {
  double mx = std::accumulate(x.begin(), x.end(), 0.0) / x.size();
  double my = std::accumulate(y.begin(), y.end(), 0.0) / y.size();
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < x.size(); ++i) sxy += (x[i] - mx) * (y[i] - my), sxx += (x[i] - mx) * (x[i] - mx);
  double a = sxx > 0 ? sxy / sxx : 0;
  return {a, my - a * mx};
}

struct Series {
  std::vector<double> predicted, measured, blocks;
  void report(const char* name) const {
    std::vector<double> residual(measured.size());
    for (size_t i = 0; i < measured.size(); ++i) residual[i] = measured[i] - predicted[i];
    auto [per_block, offset] = fit_line(blocks, residual);
    double mean_res = std::accumulate(residual.begin(), residual.end(), 0.0) / residual.size();
    std::printf("%-14s n=%3zu  Spearman %.3f  MAPE %5.1f%%  mean(measured - predicted) %+.4f ms  "
                "fit: %+.4f ms/block %+.4f ms\n",
                name, measured.size(), spearman(predicted, measured), mape_percent(predicted, measured), mean_res, per_block,
                offset);
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Latency-model fidelity: profile sums vs measured stand-alone networks and heads (fmnist, CPU)"};
  std::string profile_path = "profiles/cpu1-fmnist.json";
  int archs = 30, reps = 200, threads = 0, per_block = 0;
  uint64_t seed = 1;
  app.add_option("--profile", profile_path, "Hardware profile of this machine for the fmnist space")->capture_default_str();
  app.add_option("--archs", archs, "Random architectures")->capture_default_str();
  app.add_option("--reps", reps, "Timed runs per measurement (median; fewer makes the whole-network ranks noisy)")->capture_default_str();
  app.add_option("--threads", threads, "LibTorch threads (0 = the profile's)")->capture_default_str();
  app.add_option("--per-block", per_block,
                 "For the first N architectures, print each block: profile, alone on random input, inside the network")
      ->capture_default_str();
  app.add_option("--seed", seed, "Seed of architectures and splits")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    Space space(SpaceConfig::preset("fmnist"));
    HardwareProfile prof = HardwareProfile::load(profile_path);
    torch::set_num_threads(threads > 0 ? threads : prof.meta().threads.value_or(1));
    LatencyEstimator est(space, prof, prof, LinkModel{}, Encoding::Fp32);
    std::printf("profile %s (%s, %s), measuring with %d thread(s)\n", profile_path.c_str(),
                prof.meta().processor.c_str(), prof.meta().date.c_str(), torch::get_num_threads());

    torch::NoGradGuard no_grad;
    torch::manual_seed(0);
    std::mt19937_64 rng(seed);
    const int B = space.num_blocks();
    auto x = torch::randn({1, space.input_shape().c, space.input_shape().h, space.input_shape().w});
    auto median_ms = [&](auto&& fn) {
      for (int i = 0; i < 3; ++i) fn();
      std::vector<double> t;
      for (int i = 0; i < reps; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        fn();
        t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
      return timing_stats(t).median;
    };

    Series whole, heads;
    for (int i = 0; i < archs; ++i) {
      Arch a(space.num_layers());
      for (auto& o : a) o = int(rng() % space.num_ops());
      int p = 1 + int(rng() % (B - 1));  // 1..B-1: a head of at least the stem, short of the whole network
      Network net(space, a);
      net->eval();
      if (i < per_block) {
        std::printf("arch %s\n%-8s %-62s %10s %10s %10s\n", space.format_arch(a).c_str(), "block", "key",
                    "profile", "random in", "in network");
        for (int b = 0; b < B; ++b) {
          torch::Tensor in = net->forward_range(x, 0, b);
          torch::Tensor rnd = torch::randn(in.sizes());
          auto keys = space.block_keys(b, b >= 1 && b < B - 1 ? a[b - 1] : 0);
          std::printf("%-8s %-62s %10.4f %10.4f %10.4f\n", space.block_name(b).c_str(), keys[0].c_str(),
                      est.device_block_ms(b, b >= 1 && b < B - 1 ? a[b - 1] : 0),
                      median_ms([&] { net->block(b)->forward(rnd); }), median_ms([&] { net->block(b)->forward(in); }));
        }
      }
      whole.measured.push_back(median_ms([&] { net->forward(x); }));
      whole.predicted.push_back(est.breakdown(a, B).device_ms);
      whole.blocks.push_back(B);
      heads.measured.push_back(median_ms([&] { net->forward_range(x, 0, p); }));
      heads.predicted.push_back(est.breakdown(a, p).device_ms);
      heads.blocks.push_back(p);
      std::fprintf(stderr, "[%d/%d] whole %.3f ms (model %.3f), head p=%d %.3f ms (model %.3f)\n", i + 1, archs,
                   whole.measured.back(), whole.predicted.back(), p, heads.measured.back(), heads.predicted.back());
    }
    whole.report("whole network");
    heads.report("heads [0,p)");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_latency_fidelity: error: %s\n", e.what());
    return 2;
  }
}
