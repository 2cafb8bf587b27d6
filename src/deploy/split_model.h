// One exported half of a split network (head = blocks [0,p) for the device, tail = [p,B) for the server) loaded
// for inference in LibTorch from its directory, as `nasc export` writes it.
#pragma once
#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "common/json_io.h"
#include "data/normalizer.h"
#include "deploy/fold.h"

namespace nasc {

// DIR/model.json ("format": kHalfFormat) names the space config, arch, split, role, block range, input and output
// shapes without the batch ([C, H, W], or [classes] after the head), the classes, the folded blocks' steps, the weight
// archive (DIR/weights.pt) and the ONNX file (DIR/model.onnx, or null when built without libonnx).
// Inputs: a half that starts at block 0 takes pixels and carries the normaliser the network was trained with
// (the head when p > 0, the tail when p = 0); any other half takes the activation at its first block.
// Empty halves: at p = 0 the head has no blocks and passes the raw uint8 pixels through (they are the payload);
// at p = B the tail has no blocks and passes the class scores through (the device already has the result).
// A half serving several splits ("splits", the default "split" among them) holds the head's blocks up to the
// deepest split, or the tail's from the shallowest; forward_range runs the part one split needs.
inline constexpr const char* kHalfFormat = "nasc-half/1";

class SplitModel {
 public:
  // Throws Error naming the file and field when DIR is not an exported half, or its weights do not fit its blocks.
  static SplitModel load(const std::string& dir, torch::Device device = torch::kCPU);

  // x: [N, input_shape...], fp32 (normalised when the half takes pixels), on any device; the result is on device().
  // Throws Error when x's shape is not the half's input shape. Stateless, so concurrent calls are safe.
  torch::Tensor forward(const torch::Tensor& x) const;
  // Blocks [from, to) of the half only (whole-network block indices, begin() <= from <= to <= end()); x is the
  // tensor at block `from`, checked like forward()'s.
  torch::Tensor forward_range(const torch::Tensor& x, int from, int to) const;
  // uint8 pixels [N, C, H, W] -> the fp32 input of forward(), exactly as training normalised them.
  torch::Tensor normalize(const torch::Tensor& pixels) const;

  const std::string& role() const { return role_; }  // "head" or "tail"
  int split() const { return split_; }                      // the default split
  const std::vector<int>& splits() const { return splits_; }  // ascending, the default among them
  int begin() const { return begin_; }
  int end() const { return end_; }
  bool empty() const { return blocks_.empty(); }
  bool takes_pixels() const { return begin_ == 0; }
  // Set exactly when forward() wants normalised pixels: a non-empty half starting at block 0.
  const std::optional<Normalizer>& normalizer() const { return normalizer_; }
  const std::vector<int64_t>& input_shape() const { return input_shape_; }
  const std::vector<int64_t>& output_shape() const { return output_shape_; }
  int num_classes() const { return classes_; }
  const json& description() const { return desc_; }  // model.json as read
  torch::Device device() const { return device_; }

 private:
  void finish_load(const std::string& path, torch::Device device);  // the dry run, then the weights to device
  json desc_;
  std::string role_;
  int split_ = 0, begin_ = 0, end_ = 0, classes_ = 0;
  std::vector<int> splits_;
  std::vector<std::vector<int64_t>> boundaries_;  // the tensor at block q, for q in [begin_, end_]
  std::vector<int64_t> input_shape_, output_shape_;
  std::optional<Normalizer> normalizer_;
  std::vector<FoldedBlock> blocks_;
  torch::Device device_ = torch::kCPU;
};

}  // namespace nasc
