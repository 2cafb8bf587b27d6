// Picks the compute device from --device auto|cpu|cuda and applies the per-process settings that go with it
// (thread count, host allocator, cuDNN autotuning).
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

namespace nasc {

// auto: CUDA when available, else CPU; cuda without a GPU is an Error. threads <= 0 means every core.
// Also calls keep_host_memory_cached().
torch::Device select_device(const std::string& spec, int threads = 0);

// Makes the C heap keep freed memory for reuse instead of returning it to the kernel (glibc only; a no-op
// elsewhere, and once per process). LibTorch's CPU allocator is plain malloc: every activation of a training step
// above glibc's mmap threshold is a fresh mapping whose pages fault in zeroed, which cost a third of the CPU time
// of a hwnas-cifar step (results/training-speed). Set NASC_HOST_MALLOC=system to keep glibc's defaults.
void keep_host_memory_cached();

// Moves `m` to `device` in the memory layout its kernels are fastest with there: channels-last (NHWC) weights on
// CPU, where oneDNN's convolutions and LibTorch's batch norm then run without layout reorders (1.5-2x a training
// step, results/training-speed); unchanged on CUDA. Activations follow the weights' layout, exported and saved
// tensors are made contiguous where bytes leave the process, so results differ only by float rounding.
void to_device_layout(torch::nn::Module& m, const torch::Device& device);

std::string device_description(const torch::Device& d);  // e.g. "cpu (2 threads)" or "cuda:0 (NVIDIA H100)"

// Library versions recorded in every result file.
nlohmann::json library_versions();

}  // namespace nasc
