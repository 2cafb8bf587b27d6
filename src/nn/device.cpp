#include "nn/device.h"

#include <torch/version.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <thread>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "common/error.h"

namespace nasc {

void keep_host_memory_cached() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* mode = std::getenv("NASC_HOST_MALLOC");
    if (mode && std::strcmp(mode, "system") == 0) return;
#if defined(__GLIBC__)
    // No mmap for large blocks (they come from the heap and are reused), and never trim the heap's top: a training
    // step frees and reallocates the same sizes every step, so the peak is reached once and then recycled.
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
#endif
  });
}

torch::Device select_device(const std::string& spec, int threads) {
  keep_host_memory_cached();
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

void to_device_layout(torch::nn::Module& m, const torch::Device& device) {
  m.to(device);
  if (!device.is_cpu()) return;
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters())
    // Not contiguous(ChannelsLast): 1x1 and depthwise weights count as channels-last already (their size-1
    // dimensions make both layouts "contiguous"), so it would return them unchanged, and oneDNN reads the layout
    // from the strides. An explicit copy gives them channels-last strides.
    if (p.dim() == 4) p.set_data(torch::empty_like(p, torch::MemoryFormat::ChannelsLast).copy_(p));
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
