#include <gtest/gtest.h>

#include <random>

#include "nn/network.h"

using namespace nasc;

TEST(Blocks, ParameterCountsMatchClosedForm) {
  // k3_e6, 16 -> 24 channels: expand 16*96, BN 2*96, depthwise 96*9, BN 2*96, project 96*24, BN 2*24.
  int64_t expected = 16 * 96 + 2 * 96 + 96 * 9 + 2 * 96 + 96 * 24 + 2 * 24;
  EXPECT_EQ(count_parameters(*MBConv(16, 24, 3, 6, 1, 1)), expected);
  // k5_e1_g2, 24 -> 24: grouped 1x1 convs hold (24/2)*24 weights each.
  expected = 12 * 24 + 2 * 24 + 24 * 25 + 2 * 24 + 12 * 24 + 2 * 24;
  EXPECT_EQ(count_parameters(*MBConv(24, 24, 5, 1, 1, 2)), expected);
  EXPECT_EQ(count_parameters(*Skip(16, 16, 1)), 0);
  EXPECT_EQ(count_parameters(*Skip(16, 24, 2)), 16 * 24 + 2 * 24);
  // Head: 1x1 conv 352->1504 + BN + linear 1504->100 with bias.
  EXPECT_EQ(count_parameters(*Head(352, 1504, 100)), 352 * 1504 + 2 * 1504 + 1504 * 100 + 100);
}

TEST(Supernet, OutputShapeForRandomArchitectures) {
  Space s(SpaceConfig::preset("tiny"));
  Supernet net(s);
  std::mt19937 rng(3);
  auto x = torch::randn({2, 1, 28, 28});
  for (int t = 0; t < 5; ++t) {
    Arch a(s.num_layers());
    for (auto& o : a) o = int(rng() % s.num_ops());
    auto y = net->forward(x, a);
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 10}));
    // Running [0,p) then [p,B) equals the whole forward pass.
    int p = int(rng() % (s.num_blocks() + 1));
    net->eval();
    auto whole = net->forward(x, a);
    auto split = net->forward_range(net->forward_range(x, a, 0, p), a, p, s.num_blocks());
    EXPECT_TRUE(torch::allclose(whole, split));
    net->train();
  }
}

TEST(Network, WeightsCopiedFromSupernetGiveSameOutputs) {
  Space s(SpaceConfig::preset("tiny"));
  torch::manual_seed(0);
  Supernet super(s);
  // Train mode once so that BN running statistics differ from their initial values.
  super->train();
  Arch a = s.parse_arch("k5_e3,k3_e1_g2,k3_e6,skip,k5_e1_g2,k3_e3,k5_e6");
  for (int i = 0; i < 3; ++i) super->forward(torch::randn({8, 1, 28, 28}), a);
  super->eval();
  Network net(s, a);
  net->copy_from(*super);
  net->eval();
  auto x = torch::randn({4, 1, 28, 28});
  auto ys = super->forward(x, a);
  auto yn = net->forward(x);
  EXPECT_TRUE(torch::allclose(ys, yn, 1e-5, 1e-6)) << (ys - yn).abs().max().item<float>();
  EXPECT_LT(count_parameters(*net), count_parameters(*super));
}

// Every op has weights of its own: a step on k3_e3 paths leaves what layer 0's k5_e6 computes as it was, and
// changes layer 0's k3_e3.
TEST(Supernet, TrainingOneOpLeavesItsSiblingsAlone) {
  Space s(SpaceConfig::preset("tiny"));
  Supernet net(s);
  net->train();
  Arch small(s.num_layers(), s.op_index("k3_e3"));
  auto x = torch::randn({8, 1, 28, 28}), h = torch::randn({2, 8, 28, 28});
  auto k5_e6 = net->candidate(0, s.op_index("k5_e6")), k3_e3 = net->candidate(0, s.op_index("k3_e3"));
  auto before_big = k5_e6->forward(h).detach().clone(), before_small = k3_e3->forward(h).detach().clone();
  torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.1));
  torch::nn::functional::cross_entropy(net->forward(x, small), torch::zeros({8}, torch::kLong)).backward();
  sgd.step();
  EXPECT_TRUE(torch::allclose(before_big, k5_e6->forward(h).detach()));
  EXPECT_FALSE(torch::allclose(before_small, k3_e3->forward(h).detach()));
}
