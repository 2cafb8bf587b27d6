// Folded blocks as an ONNX model (opset 13), built with ONNX's own protobuf classes and validated by its checker,
// so that runtimes other than LibTorch (onnxruntime, TensorRT, ...) can run either half of a split network.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "deploy/fold.h"

namespace nasc {

constexpr int kOnnxOpset = 13;

// False when nasc was built without libonnx; writing or checking a model then throws.
bool onnx_available();

// Graph "input" -> blocks -> "output", fp32, batch dimension symbolic ("batch"). `input_shape` and `output_shape`
// exclude the batch: [C, H, W], or [classes] after the head. Conv (groups, strides, pads) + Relu per folded conv,
// Reshape-Transpose-Reshape for a channel shuffle, Add for a residual, GlobalAveragePool + Flatten + Gemm in the head;
// weights as initializers. No blocks: a single Identity node (an empty half still loads in any runtime).
// Throws Error if the checker rejects the model or the file cannot be written.
void write_onnx(const std::vector<FoldedBlock>& blocks, const std::vector<int64_t>& input_shape,
                const std::vector<int64_t>& output_shape, const std::string& graph_name, const std::string& path);

// Runs onnx::checker::check_model on a file; throws Error with the checker's message.
void check_onnx_file(const std::string& path);

}  // namespace nasc
