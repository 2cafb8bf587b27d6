// Training throughput of the supernet (the search's weight step: lambda sampled paths) and of a stand-alone network,
// on synthetic batches, for the fmnist and hwnas-cifar spaces on CPU and CUDA if present. Prints sample-passes per
// second (images x paths / s). Run: build/bench_train_throughput [--steps N]; against PyTorch eager:
// /usr/bin/python3 bench/pytorch_reference.py --compare build/bench_train_throughput
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <random>

#include "nn/device.h"
#include "nn/network.h"
#include "search/supernet_search.h"
#include "train/trainer.h"

using namespace nasc;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

// Runs `warmup` + `steps` SGD steps; returns sample-passes per second over the timed steps.
template <typename Step>
double time_steps(const torch::Device& d, int warmup, int steps, int passes_per_step, int batch, Step step) {
  for (int i = 0; i < warmup; ++i) step(i);
  sync(d);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step(warmup + i);
  sync(d);
  return double(steps) * passes_per_step * batch / seconds_since(t0);
}

void bench_space(const std::string& name, const std::string& profile_dir, const torch::Device& d, int batch,
                 int steps, int lambda, bool csv) {
  Space space(SpaceConfig::preset(name));
  auto x = torch::randn({batch, space.input_shape().c, space.input_shape().h, space.input_shape().w}).to(d);
  auto y = torch::randint(space.num_classes(), {batch}, torch::kLong).to(d);
  // The search's own weight step (SupernetSearch::weight_step: lambda paths from the uniform initial
  // distribution, gradients set to none, one SGD step); no split is sampled, so no payload is fake-quantised and
  // the step is the plain supernet step the PyTorch reference runs.
  HardwareProfile profile = HardwareProfile::load(profile_dir + "/cpu2-" + name + ".json");
  LatencyEstimator latency(space, profile, profile, LinkModel{}, Encoding::Fp32);
  SearchProblem problem;
  problem.allowed_splits.assign(size_t(space.num_blocks() + 1), false);
  problem.allowed_splits.back() = true;
  problem.adapt = false;
  SearchOptions options;
  options.lambda = lambda;
  options.lr = 0.01;
  options.weight_decay = 0;
  SupernetSearch search(space, latency, problem, options, d);
  std::mt19937_64 rng(1);
  double sup = time_steps(d, 3, steps, lambda, batch, [&](int) { search.weight_step(x, y, rng); });

  Network net(space, space.default_arch());
  to_device_layout(*net, d);
  torch::optim::SGD opt2(net->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9).nesterov(true));
  double alone = time_steps(d, 3, steps, 1, batch, [&](int) {
    opt2.zero_grad();
    classification_loss(net->forward(x), y, 0.0).backward();
    opt2.step();
  });
  if (csv)
    std::printf("%s,%s,%d,%d,%d,%.1f,%.1f\n", name.c_str(), d.is_cuda() ? "cuda" : "cpu",
                d.is_cuda() ? 0 : torch::get_num_threads(), batch, lambda, sup, alone);
  else
    std::printf("%-12s %-22s batch %4d  supernet (%d paths/step) %9.0f sample-passes/s   stand-alone %9.0f images/s\n",
                name.c_str(), device_description(d).c_str(), batch, lambda, sup, alone);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Training throughput of supernet and stand-alone network"};
  int steps = 10, batch = 128, lambda = 2, threads = 0;
  std::vector<std::string> spaces = {"fmnist", "hwnas-cifar"};
  std::string profile_dir = "profiles";
  app.add_option("--steps", steps, "Timed steps per measurement")->capture_default_str();
  app.add_option("--batch", batch, "Batch size")->capture_default_str();
  app.add_option("--lambda", lambda, "Sampled paths per supernet step")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (0 = all)")->capture_default_str();
  app.add_option("--spaces", spaces, "Spaces to measure (each needs PROFILES/cpu2-SPACE.json)")->capture_default_str();
  app.add_option("--profiles", profile_dir, "Folder of the bundled profiles (the search needs one to exist)")
      ->capture_default_str();
  bool csv = false, cpu_only = false;
  app.add_flag("--csv", csv, "Print CSV rows (as bench/pytorch_reference.py does) instead of text");
  app.add_flag("--cpu-only", cpu_only, "Skip CUDA even when it is available");
  CLI11_PARSE(app, argc, argv);
  std::vector<torch::Device> devices = {select_device("cpu", threads)};
  if (torch::cuda::is_available() && !cpu_only) devices.push_back(select_device("cuda"));
  if (csv) std::printf("space,device,threads,batch,lambda,supernet_sample_passes_per_s,standalone_images_per_s\n");
  try {
    for (auto& d : devices)
      for (auto& s : spaces) bench_space(s, profile_dir, d, batch, d.is_cuda() ? steps * 10 : steps, lambda, csv);
  } catch (const std::exception& e) {  // nasc::Error, and LibTorch's c10::Error (out of memory, say)
    std::fprintf(stderr, "bench_train_throughput: %s\n", e.what());
    return 2;
  }
  return 0;
}
