// Inference form of a network's blocks: every conv -> BN pair folded into one conv with bias (eval-mode running
// statistics), as a short list of plain steps that LibTorch, the ONNX writer and the exported JSON all share.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "common/json_io.h"
#include "nn/network.h"

namespace nasc {

// One step of a folded block. Conv and Linear own their tensors; Shuffle and GlobalPool have none.
struct FoldedStep {
  enum class Kind { Conv, Shuffle, GlobalPool, Linear };
  Kind kind = Kind::Conv;
  torch::Tensor weight, bias;   // Conv: [out, in/groups, k, k], [out]; Linear: [out, in], [out]
  int stride = 1, padding = 0;  // Conv
  int groups = 1;               // Conv groups, or Shuffle groups
  bool relu = false;            // Conv: ReLU after

  // x: [N, C, H, W]; GlobalPool maps to [N, C], Linear takes [N, C].
  torch::Tensor forward(const torch::Tensor& x) const;
  json to_json() const;  // the step's kind and attributes; tensors go to the weight archive
  static FoldedStep from_json(const json& j, const std::string& context);
};

// A block of the network (stem, layer or head) in folded form; `residual` adds the block's input to its output.
struct FoldedBlock {
  int index = 0;     // b: position in the whole network
  std::string name;  // "stem", "layer3", "head"
  std::vector<FoldedStep> steps;
  bool residual = false;

  torch::Tensor forward(torch::Tensor x) const;
  json to_json() const;
  static FoldedBlock from_json(const json& j, const std::string& context);
};

// W' = W * g, b' = beta - mean * g with g = gamma / sqrt(var + eps) per output channel, computed in double.
FoldedStep fold_conv_bn(const torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn, bool relu);

// Folds one block of nn/blocks.h (ConvBN, MBConv, Skip, Head); throws for any other module.
FoldedBlock fold_block(const BlockModule& block, int index, const std::string& name);

// Blocks [begin, end) of a network, folded. The network's parameters are not changed.
std::vector<FoldedBlock> fold_network(const NetworkImpl& net, int begin, int end);

torch::Tensor run_folded(const std::vector<FoldedBlock>& blocks, torch::Tensor x);

// The tensors of all steps in one plain torch archive, keyed "b<index>.s<step>.weight|bias".
void save_folded_weights(const std::vector<FoldedBlock>& blocks, const std::string& path);
// Fills the tensors of blocks read by FoldedBlock::from_json; throws naming the file and a missing or misshapen key.
void load_folded_weights(std::vector<FoldedBlock>& blocks, const std::string& path);

}  // namespace nasc
