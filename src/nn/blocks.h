// The building blocks of ARCHITECTURE.md §1 as LibTorch modules: stem, the candidate ops (inverted residual, skip) and
// the head. Every block maps one tensor to one tensor, so a network is a list of blocks that can be cut anywhere.
#pragma once
#include <torch/torch.h>

#include "space/space.h"

namespace nasc {

// Common interface of every block so that supernet, stand-alone network and profiler treat them alike.
struct BlockModule : torch::nn::Module {
  virtual torch::Tensor forward(torch::Tensor x) = 0;
};

// conv(k, stride, groups) -> BN [-> ReLU]; the stem, the head's 1x1 conv, and skip's projection.
struct ConvBNImpl : BlockModule {
  ConvBNImpl(int cin, int cout, int kernel, int stride, int groups, bool relu);
  torch::Tensor forward(torch::Tensor x) override;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  bool relu;
};
TORCH_MODULE(ConvBN);

// Inverted residual kK_eE_gG: 1x1 expand (groups G) -> BN -> ReLU -> [shuffle] -> KxK depthwise (stride) -> BN ->
// ReLU -> 1x1 project (groups G) -> BN, plus identity when shapes match.
struct MBConvImpl : BlockModule {
  MBConvImpl(int cin, int cout, int kernel, int expansion, int stride, int groups);
  torch::Tensor forward(torch::Tensor x) override;
  torch::nn::Conv2d expand{nullptr}, depthwise{nullptr}, project{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  int groups;
  bool residual;
};
TORCH_MODULE(MBConv);

// `skip`: identity when shapes match, else 1x1 conv (stride) -> BN -> ReLU.
struct SkipImpl : BlockModule {
  SkipImpl(int cin, int cout, int stride);
  torch::Tensor forward(torch::Tensor x) override;
  ConvBN proj{nullptr};  // null for the identity
};
TORCH_MODULE(Skip);

// 1x1 conv to C_head -> BN -> ReLU -> global average pool -> linear to classes.
struct HeadImpl : BlockModule {
  HeadImpl(int cin, int head_channels, int classes);
  torch::Tensor forward(torch::Tensor x) override;
  ConvBN conv{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(Head);

// Builds block b of the space with op `op` (op ignored for stem and head).
std::shared_ptr<BlockModule> make_block(const Space& space, int b, int op);

// Parts of the head as separate modules, so the profiler can time each HW-NAS-Bench key on its own
// (ConvNorm 1x1, AvgP, FC) in the order of Space::block_keys for the head.
std::vector<std::shared_ptr<torch::nn::Module>> make_head_parts(const Space& space);
torch::Tensor run_head_part(const std::shared_ptr<torch::nn::Module>& part, torch::Tensor x);

int64_t count_parameters(const torch::nn::Module& m);

// Copies every parameter and buffer of `src` into `dst` (same structure), without autograd.
void copy_module_state(const torch::nn::Module& src, torch::nn::Module& dst);

}  // namespace nasc
