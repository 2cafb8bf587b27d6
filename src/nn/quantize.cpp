#include "nn/quantize.h"

namespace nasc {

torch::Tensor fake_quantize(const torch::Tensor& x, Encoding enc) {
  if (enc == Encoding::Fp32 || enc == Encoding::Raw) return x;
  torch::Tensor q;
  {
    torch::NoGradGuard no_grad;
    if (enc == Encoding::Fp16) {
      q = x.to(torch::kHalf).to(x.scalar_type());
    } else {
      auto flat = x.detach().flatten(1);
      auto lo = std::get<0>(flat.min(1, true)).clamp_max(0);
      auto hi = std::get<0>(flat.max(1, true)).clamp_min(0);
      auto scale = ((hi - lo) / 255.0).clamp_min(1e-12);
      auto zp = (-128.0 - torch::round(lo / scale)).clamp(-128, 127);
      auto qi = torch::clamp(torch::round(flat / scale) + zp, -128, 127);
      q = ((qi - zp) * scale).view_as(x);
    }
  }
  return x + (q - x).detach();  // straight-through estimator
}

}  // namespace nasc
