#include "nn/device.h"

#include <torch/version.h>

#include <algorithm>
#include <thread>

#include "common/error.h"

namespace nasc {

torch::Device select_device(const std::string& spec, int threads) {
  // 0 means every core: Debian's LibTorch otherwise keeps whatever its OpenMP runtime picked (often 1).
  torch::set_num_threads(threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency())));
  bool cuda = torch::cuda::is_available();
  if (spec == "cpu") return torch::kCPU;
  if (spec == "cuda" && !cuda)
    fail("--device cuda: no CUDA device is available (this LibTorch build or machine has none); use --device cpu or auto");
  if (spec != "cuda" && spec != "auto") fail("unknown device '", spec, "': expected auto, cpu or cuda");
  if (!cuda) return torch::kCPU;
  // Fixed input shapes throughout a run, so cuDNN's autotuner pays off after the first steps.
  at::globalContext().setBenchmarkCuDNN(true);
  return torch::Device(torch::kCUDA, 0);
}

std::string device_description(const torch::Device& d) {
  if (d.is_cpu()) return cat("cpu (", torch::get_num_threads(), " threads)");
  return cat("cuda:", int(d.index()));
}

nlohmann::json library_versions() {
  return {{"nasc", NASC_VERSION},
          {"libtorch", TORCH_VERSION},
          {"cuda_available", torch::cuda::is_available()},
          {"compiler", __VERSION__}};
}

}  // namespace nasc
