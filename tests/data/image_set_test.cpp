#include "data/image_set.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "common/error.h"
#include "data/data_spec.h"
#include "data_test_util.h"

namespace nasc {
namespace {

using test::error_of;

TEST(DataSpec, ParsesAcceptedForms) {
  DataSpec d = DataSpec::parse("fmnist");
  EXPECT_EQ(d.kind, "fmnist");
  EXPECT_EQ(d.dir, "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(DataSpec::parse("fmnist32").dir, "/usr/share/datasets/fashion-mnist");
  for (const std::string kind : {"fmnist", "mnist", "cifar10", "cifar100", "fmnist32", "mnist32"}) {
    DataSpec s = DataSpec::parse(kind + ":/data/x:y");
    EXPECT_EQ(s.kind, kind);
    EXPECT_EQ(s.dir, "/data/x:y");
    EXPECT_EQ(DataSpec::parse(s.to_string()).dir, s.dir);
  }
}

TEST(DataSpec, RejectsBadSpecsNamingThem) {
  for (const std::string bad : {"imagenet:/x", "", "FMNIST", "cifar10", "mnist", "fmnist:", "mnist32", "fmnist64"}) {
    const std::string msg = error_of([&] { DataSpec::parse(bad); });
    EXPECT_NE(msg.find("'" + bad + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cifar100:DIR"), std::string::npos) << msg;
  }
}

TEST(SplitIndices, DeterministicDisjointCovering) {
  const TrainValIndices a = train_val_indices(1001, 0.5, 7), b = train_val_indices(1001, 0.5, 7);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.val, b.val);
  EXPECT_EQ(a.val.size(), 501u);  // round(500.5)
  EXPECT_EQ(a.train.size(), 500u);
  std::vector<int64_t> all = a.train;
  all.insert(all.end(), a.val.begin(), a.val.end());
  std::sort(all.begin(), all.end());
  for (int64_t i = 0; i < 1001; ++i) ASSERT_EQ(all[size_t(i)], i);  // disjoint and covering
  EXPECT_TRUE(std::is_sorted(a.val.begin(), a.val.end()));
  EXPECT_NE(train_val_indices(1001, 0.5, 8).val, a.val);
}

TEST(SplitIndices, SameOnEveryMachine) {
  // Fixed by mt19937_64 (standardised) and our own Fisher-Yates; a change here breaks reproducibility.
  EXPECT_EQ(train_val_indices(10, 0.3, 42).val, (std::vector<int64_t>{1, 7, 9}));
}

TEST(SplitIndices, EdgeFractions) {
  EXPECT_TRUE(train_val_indices(10, 0.0, 1).val.empty());
  EXPECT_EQ(train_val_indices(10, 1.0, 1).val.size(), 10u);
  EXPECT_THROW(train_val_indices(10, 1.5, 1), Error);
  EXPECT_THROW(train_val_indices(10, -0.1, 1), Error);
}

TEST(Subset, CopiesSelectedImagesAndLabels) {
  ImageSet set;
  set.name = "t";
  set.c = 1;
  set.h = 1;
  set.w = 2;
  set.num_classes = 5;
  set.pixels = {0, 1, 10, 11, 20, 21};
  set.labels = {0, 1, 2};
  ImageSet s = subset(set, {2, 0, 2});
  EXPECT_EQ(s.size(), 3);
  EXPECT_EQ(s.pixels, (std::vector<uint8_t>{20, 21, 0, 1, 20, 21}));
  EXPECT_EQ(s.labels, (std::vector<int16_t>{2, 0, 2}));
  EXPECT_EQ(s.num_classes, 5);
  EXPECT_NE(error_of([&] { subset(set, {3}); }).find("index 3 out of range"), std::string::npos);
}

// Labels sorted by class, as image folders load: 3 classes of 500, 300 and 200 images.
ImageSet class_sorted_set() {
  ImageSet set;
  set.name = "sorted";
  set.c = set.h = set.w = 1;
  set.num_classes = 3;
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < (c == 0 ? 500 : c == 1 ? 300 : 200); ++i) set.labels.push_back(int16_t(c));
  set.pixels.assign(set.labels.size(), 0);
  return set;
}

std::vector<int> class_counts(const ImageSet& set, const std::vector<int64_t>& idx, size_t n) {
  std::vector<int> counts(size_t(set.num_classes), 0);
  for (size_t k = 0; k < n; ++k) ++counts[size_t(set.labels[size_t(idx[k])])];
  return counts;
}

TEST(Stratified, EveryPrefixHoldsEachClassInProportionOnClassSortedData) {
  const ImageSet set = class_sorted_set();
  std::vector<int64_t> all(1000);
  std::iota(all.begin(), all.end(), int64_t(0));
  const auto order = stratified_order(set, all, 7);
  ASSERT_EQ(order.size(), 1000u);
  EXPECT_EQ(std::set<int64_t>(order.begin(), order.end()).size(), 1000u) << "a permutation";
  for (size_t n = 1; n <= order.size(); ++n) {
    const auto counts = class_counts(set, order, n);
    for (int c = 0; c < 3; ++c)
      ASSERT_LE(std::abs(counts[size_t(c)] - double(n) * (c == 0 ? 0.5 : c == 1 ? 0.3 : 0.2)), 1.0)
          << "class " << c << " in the first " << n;
  }
  // Batches of 64 in this order are mixed: each holds all three classes.
  for (size_t b = 0; b + 64 <= order.size(); b += 64) {
    std::vector<int> in_batch(3, 0);
    for (size_t k = b; k < b + 64; ++k) ++in_batch[size_t(set.labels[size_t(order[k])])];
    EXPECT_GE(*std::min_element(in_batch.begin(), in_batch.end()), 10) << "batch at " << b;
  }
  EXPECT_EQ(stratified_order(set, all, 7), order) << "seeded";
  EXPECT_NE(stratified_order(set, all, 8), order);
  // A subset of the indices keeps its own proportions.
  const std::vector<int64_t> part = {0, 1, 2, 3, 500, 501, 900, 901, 902, 903};
  const auto sub = stratified_order(set, part, 1);
  EXPECT_EQ(class_counts(set, sub, 5), (std::vector<int>{2, 1, 2}));
  EXPECT_NE(error_of([&] { stratified_order(set, {1000}, 1); }).find("index 1000 out of range"), std::string::npos);
}

TEST(Stratified, LimitsTakeEveryClassNotTheFirstN) {
  const ImageSet set = class_sorted_set();
  const auto s = stratified_subset(set, 100, kLimitSeed);
  ASSERT_EQ(s.size(), 100u);
  EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
  EXPECT_EQ(class_counts(set, s, s.size()), (std::vector<int>{50, 30, 20}));
  EXPECT_EQ(stratified_subset(set, 0, kLimitSeed).size(), 1000u) << "0 = all";
  EXPECT_EQ(stratified_subset(set, 5000, kLimitSeed).size(), 1000u);
}

TEST(PadAndRepeat, CentresGreyImagesOnAZeroCanvasInEveryChannel) {
  ImageSet grey;
  grey.name = "g";
  grey.c = 1;
  grey.h = grey.w = 2;
  grey.num_classes = 3;
  grey.pixels = {1, 2, 3, 4, 5, 6, 7, 8};
  grey.labels = {2, 0};
  const ImageSet rgb = pad_and_repeat(grey, 3, 4, 4);
  ASSERT_EQ(rgb.c, 3);
  ASSERT_EQ(rgb.h, 4);
  ASSERT_EQ(rgb.size(), 2);
  EXPECT_EQ(rgb.labels, grey.labels);
  EXPECT_EQ(rgb.num_classes, 3);
  const std::vector<uint8_t> plane0 = {0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0};
  for (int c = 0; c < 3; ++c)
    EXPECT_TRUE(std::equal(plane0.begin(), plane0.end(), rgb.image(0) + c * 16)) << c;
  EXPECT_EQ(rgb.image(1)[5], 5);
  EXPECT_EQ(rgb.image(1)[2 * 16 + 10], 8);
  EXPECT_NE(error_of([&] { pad_and_repeat(grey, 3, 1, 4); }).find("cannot pad 2x2 images to 1x4"), std::string::npos);
  ImageSet two = rgb;
  two.c = 2;
  EXPECT_NE(error_of([&] { pad_and_repeat(two, 3, 4, 4); }).find("cannot turn 2-channel images into 3"),
            std::string::npos);
}

TEST(PadAndRepeat, Fmnist32IsFashionMnistInTheCifarGeometry) {
  const TrainTest grey = load_train_test(DataSpec::parse("fmnist"));
  const TrainTest rgb = load_train_test(DataSpec::parse("fmnist32"));
  EXPECT_EQ(rgb.train.name, "fmnist32");
  EXPECT_EQ(rgb.train.size(), grey.train.size());
  EXPECT_EQ(rgb.test.size(), grey.test.size());
  EXPECT_EQ(rgb.train.c, 3);
  EXPECT_EQ(rgb.train.h, 32);
  EXPECT_EQ(rgb.test.w, 32);
  EXPECT_EQ(rgb.test.num_classes, 10);
  const int64_t i = 1234;
  EXPECT_EQ(rgb.train.labels[i], grey.train.labels[i]);
  EXPECT_EQ(rgb.train.image(i)[2 * 1024 + (2 + 14) * 32 + 2 + 13], grey.train.image(i)[14 * 28 + 13]);
}

}  // namespace
}  // namespace nasc
