#include "nn/quantize.h"

#include <gtest/gtest.h>

#include "deploy/protocol.h"

namespace nasc {
namespace {

torch::Tensor sample_batch() {
  torch::manual_seed(3);
  auto x = torch::randn({3, 4, 5, 5});
  x[1] *= 40;               // one sample with a far wider range: it must not coarsen the others
  x[2] = x[2].abs() + 0.5;  // all positive: the range still includes 0
  return x;
}

// The search's fake quantisation is the deployed payload: the same numbers as encoding each sample for the wire
// (int8, per-tensor affine) and decoding it on the server.
TEST(FakeQuantize, Int8EqualsTheWireRoundTripOfEachSample) {
  const auto x = sample_batch();
  const auto q = fake_quantize(x, Encoding::Int8);
  ASSERT_EQ(q.sizes(), x.sizes());
  for (int64_t i = 0; i < x.size(0); ++i) {
    auto xi = x[i].contiguous();
    const std::vector<int64_t> shape(xi.sizes().begin(), xi.sizes().end());
    const WireTensor wire = encode_floats(xi.data_ptr<float>(), size_t(xi.numel()), shape, WireEncoding::Int8);
    const std::vector<float> back = decode_floats(wire);
    auto qi = q[i].contiguous();
    for (int64_t k = 0; k < xi.numel(); ++k) EXPECT_NEAR(qi.data_ptr<float>()[k], back[size_t(k)], 1e-5) << i;
    // error within half a step of this sample's own scale
    const float lo = std::min(0.f, xi.min().item<float>()), hi = std::max(0.f, xi.max().item<float>());
    EXPECT_LE((qi - xi).abs().max().item<float>(), (hi - lo) / 255 / 2 + 1e-5) << i;
  }
  EXPECT_GT((q - x).abs().max().item<float>(), 0.f) << "int8 must lose something on random data";
}

TEST(FakeQuantize, Fp16RoundsThroughHalfAndFp32IsTheIdentity) {
  const auto x = sample_batch();
  EXPECT_TRUE(torch::equal(fake_quantize(x, Encoding::Fp16), x.to(torch::kHalf).to(torch::kFloat)));
  EXPECT_TRUE(torch::equal(fake_quantize(x, Encoding::Fp32), x));
}

// Straight-through: the gradient reaches the head unchanged, so the head learns to live with the rounding.
TEST(FakeQuantize, GradientPassesStraightThrough) {
  for (Encoding enc : {Encoding::Int8, Encoding::Fp16}) {
    auto x = sample_batch().requires_grad_(true);
    auto w = torch::linspace(-1, 1, x.numel()).view_as(x);
    (fake_quantize(x, enc) * w).sum().backward();
    EXPECT_TRUE(torch::allclose(x.grad(), w)) << encoding_name(enc);
  }
}

}  // namespace
}  // namespace nasc
