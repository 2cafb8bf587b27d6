#include <gtest/gtest.h>

#include <filesystem>

#include "data/data_spec.h"
#include "train/trainer.h"
#include "common/error.h"
#include "nn/quantize.h"

using namespace nasc;
namespace fs = std::filesystem;

namespace {
const TrainTest& fmnist() {
  static TrainTest data = load_train_test(DataSpec::parse("fmnist"));
  return data;
}

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("nasc_train_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}
}  // namespace

TEST(Trainer, SmallNetworkLearnsFashionMnistWellAboveChance) {
  torch::set_num_threads(2);
  Space space(SpaceConfig::preset("tiny"));
  TrainOptions o;
  o.epochs = 3;
  o.batch_size = 64;
  o.lr = 0.1;
  o.train_limit = 6400;  // 100 steps per epoch, 300 in all
  o.test_limit = 2000;
  o.seed = 7;
  Trainer t(space, space.default_arch(), o, torch::kCPU);
  TrainResult r = t.run(fmnist(), "", false);
  ASSERT_EQ(r.history.size(), 3u);
  EXPECT_GE(r.test_accuracy, 0.70) << "10 classes: chance is 0.10";
  EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
}

TEST(Trainer, ResumeIsBitIdenticalToUninterruptedRun) {
  torch::set_num_threads(1);
  Space space(SpaceConfig::preset("tiny"));
  TrainOptions o;
  o.epochs = 2;
  o.batch_size = 32;
  o.train_limit = 640;
  o.test_limit = 256;
  o.seed = 3;
  fs::path a = temp_dir("a"), b = temp_dir("b");
  Trainer whole(space, space.default_arch(), o, torch::kCPU);
  TrainResult ra = whole.run(fmnist(), a.string(), false);

  Trainer first(space, space.default_arch(), o, torch::kCPU);
  first.run(fmnist(), b.string(), false, [](const EpochRecord&) { return false; });  // "interrupted" after epoch 1
  Trainer second(space, space.default_arch(), o, torch::kCPU);
  TrainResult rb = second.run(fmnist(), b.string(), true);

  ASSERT_EQ(rb.history.size(), 2u);
  EXPECT_EQ(ra.history[1].train_loss, rb.history[1].train_loss);
  EXPECT_EQ(ra.history[1].test_acc, rb.history[1].test_acc);
  auto pa = whole.network()->parameters(), pb = second.network()->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(Trainer, CosineScheduleEndpoints) {
  EXPECT_DOUBLE_EQ(cosine_lr(0.1, 0, 100), 0.1);
  EXPECT_NEAR(cosine_lr(0.1, 50, 100), 0.05, 1e-12);
  EXPECT_NEAR(cosine_lr(0.1, 100, 100), 0.0, 1e-12);
}

TEST(Trainer, PayloadSplitFakeQuantisesTheSentActivationLikeTheDeployedPair) {
  Space space(SpaceConfig::preset("tiny"));
  const int B = space.num_blocks(), p = B / 2;
  TrainOptions o;
  o.payload_split = p;
  o.payload_encoding = "int8";
  Trainer t(space, space.default_arch(), o, torch::kCPU);
  Network net = t.network();
  net->eval();
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  const auto& in = space.input_shape();
  torch::Tensor x = torch::randn({4, in.c, in.h, in.w});
  torch::Tensor expected = net->forward_range(fake_quantize(net->forward_range(x, 0, p), Encoding::Int8), p, B);
  EXPECT_TRUE(torch::equal(t.forward(x), expected));
  EXPECT_GT((t.forward(x) - net->forward(x)).abs().max().item<float>(), 0.f) << "int8 must change the logits";

  TrainOptions whole;  // no split: the network runs whole
  Trainer w(space, space.default_arch(), whole, torch::kCPU);
  EXPECT_TRUE(torch::equal(w.forward(x), w.network()->forward(x)));

  // The options say so in their JSON only when set, so older runs' keys and checkpoints stay valid.
  EXPECT_FALSE(whole.to_json().contains("payload"));
  TrainOptions back = TrainOptions::from_json(o.to_json(), "test");
  EXPECT_EQ(back.payload_split, p);
  EXPECT_EQ(back.payload_encoding, "int8");
  o.payload_split = B + 1;
  EXPECT_THROW(Trainer(space, space.default_arch(), o, torch::kCPU), Error);
  o.payload_split = p;
  o.payload_encoding = "int4";
  EXPECT_THROW(o.validate(), Error);
}
