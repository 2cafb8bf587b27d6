// Networks over a space: the weight-sharing supernet (every op of every layer) and the stand-alone network of
// one architecture. Both run a block range [a, b) so that any split index p cuts them into head [0,p) and tail [p,B).
#pragma once
#include <torch/torch.h>

#include "nn/blocks.h"
#include "space/space.h"

namespace nasc {

struct SupernetImpl : torch::nn::Module {
  // Every op of every layer has weights of its own (ops sharing one kernel set, measured on the truth, did not help).
  explicit SupernetImpl(const Space& space);
  torch::Tensor forward(torch::Tensor x, const Arch& arch);
  torch::Tensor forward_range(torch::Tensor x, const Arch& arch, int begin, int end);
  const Space& space() const { return space_; }
  // Module of layer l, op o (for copying weights).
  std::shared_ptr<BlockModule> candidate(int layer, int op) const { return layers_.at(layer).at(op); }
  std::shared_ptr<BlockModule> stem() const { return stem_; }
  std::shared_ptr<BlockModule> head() const { return head_; }

 private:
  Space space_;
  std::shared_ptr<BlockModule> stem_, head_;
  std::vector<std::vector<std::shared_ptr<BlockModule>>> layers_;
};
TORCH_MODULE(Supernet);

struct NetworkImpl : torch::nn::Module {
  NetworkImpl(const Space& space, Arch arch);
  torch::Tensor forward(torch::Tensor x) { return forward_range(x, 0, space_.num_blocks()); }
  torch::Tensor forward_range(torch::Tensor x, int begin, int end);
  const Space& space() const { return space_; }
  const Arch& arch() const { return arch_; }
  std::shared_ptr<BlockModule> block(int b) const { return blocks_.at(b); }
  // Copies the weights (and BN statistics) of this architecture's path out of a supernet.
  void copy_from(const SupernetImpl& supernet);

 private:
  Space space_;
  Arch arch_;
  std::vector<std::shared_ptr<BlockModule>> blocks_;  // stem, layers, head
};
TORCH_MODULE(Network);

}  // namespace nasc
