// Fake quantisation of the tensor at a split (ARCHITECTURE.md §4): the search sees the rounding error its payload
// encoding will cause in deployment, with a straight-through gradient. Same affine rule as deploy/protocol.
#pragma once
#include <torch/torch.h>

#include "space/space.h"

namespace nasc {

// Per sample (each item of the batch is one payload): int8 with scale = (max(x,0) - min(x,0)) / 255 and zero point
// -128 - round(min/scale); fp16 by a round trip through half precision; fp32 and raw unchanged.
// Forward returns the dequantised tensor; backward passes the gradient through unchanged.
torch::Tensor fake_quantize(const torch::Tensor& x, Encoding enc);

}  // namespace nasc
