// Shared inputs of the export and ONNX tests: tiny-space networks whose batch norms hold non-trivial statistics
// (so that folding has something to fold), a non-identity normaliser, and fresh output directories.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "data/normalizer.h"
#include "nn/network.h"

namespace nasc::test {

// Layer by layer: grouped op with shuffle and residual, k5, stride 2, skip with projection, grouped residual, ...
inline const char* kArchA = "k3_e1_g2,k5_e3,k3_e6,skip,k5_e1_g2,k3_e3,k5_e6";
// Identity skips (layers 0 and 4) and a grouped op that changes width.
inline const char* kArchB = "skip,k3_e1,k3_e3,k5_e6,skip,k3_e1_g2,k5_e1";

inline void randomize_batch_norms(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& mod : m.modules())
    if (auto* bn = mod->as<torch::nn::BatchNorm2d>()) {
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.3, 0.3);
      bn->running_mean.uniform_(-0.3, 0.3);
      bn->running_var.uniform_(0.3, 2.0);
    }
}

inline Network test_network(const char* arch, uint64_t seed) {
  torch::manual_seed(seed);
  Space s(SpaceConfig::preset("tiny"));
  Network net(s, s.parse_arch(arch));
  randomize_batch_norms(*net);
  net->eval();
  return net;
}

inline Normalizer test_normalizer() {
  Normalizer n;
  n.mean = {0.3f};
  n.std = {0.25f};
  return n;
}

inline torch::Tensor random_pixels(const Space& s, int n) {
  Shape in = s.input_shape();
  return torch::randint(0, 256, {n, in.c, in.h, in.w}, torch::kUInt8);
}

// What training feeds the network for these pixels (the batch loader's rule).
inline torch::Tensor normalized(const Normalizer& norm, const torch::Tensor& pixels) {
  auto scale = torch::tensor(norm.scale()).view({1, -1, 1, 1}),
       offset = torch::tensor(norm.offset()).view({1, -1, 1, 1});
  return pixels.to(torch::kFloat) * scale + offset;
}

// A path under the test temp dir that does not exist yet, unique per test.
inline std::string fresh_dir(const std::string& name) {
  auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto p = std::filesystem::path(::testing::TempDir()) /
           (std::string("nasc_") + info->test_suite_name() + "_" + info->name() + "_" + name);
  std::filesystem::remove_all(p);
  return p.string();
}

inline float max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().max().item<float>();
}

}  // namespace nasc::test
