// Picks the compute device from --device auto|cpu|cuda and applies the per-process settings that go with it
// (thread count, cuDNN autotuning).
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

namespace nasc {

// auto: CUDA when available, else CPU; cuda without a GPU is an Error. threads <= 0 keeps LibTorch's default.
torch::Device select_device(const std::string& spec, int threads = 0);

std::string device_description(const torch::Device& d);  // e.g. "cpu (2 threads)" or "cuda:0 (NVIDIA H100)"

// Library versions recorded in every result file.
nlohmann::json library_versions();

}  // namespace nasc
