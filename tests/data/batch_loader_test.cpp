#include "data/batch_loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "common/error.h"
#include "data/data_spec.h"
#include "data_test_util.h"

namespace nasc {
namespace {

// 50 images of 3x8x8 whose first pixel is the image index, so any unaugmented batch row names its source.
ImageSet synthetic_set(int n = 50) {
  ImageSet set;
  set.name = "cifar10";
  set.c = 3;
  set.h = 8;
  set.w = 8;
  set.num_classes = 10;
  for (int i = 0; i < n; ++i) {
    auto px = test::ramp(3 * 8 * 8, 37 + 2 * i, i);
    px[0] = uint8_t(i);
    set.pixels.insert(set.pixels.end(), px.begin(), px.end());
    set.labels.push_back(int16_t(i % 10));
  }
  return set;
}

std::vector<int64_t> all_indices(const ImageSet& set) {
  std::vector<int64_t> idx(size_t(set.size()));
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = int64_t(i);
  return idx;
}

LoaderOptions train_opts(int batch = 16, uint64_t seed = 5) {
  LoaderOptions o;
  o.batch_size = batch;
  o.shuffle = true;
  o.augment = true;
  o.pad = 2;
  o.seed = seed;
  return o;
}

std::vector<Batch> epoch_batches(BatchLoader& loader, int64_t epoch) {
  loader.set_epoch(epoch);
  std::vector<Batch> out;
  Batch b;
  while (loader.next(b)) out.push_back(b);
  return out;
}

bool same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!torch::equal(a[i].x, b[i].x) || !torch::equal(a[i].y, b[i].y)) return false;
  return true;
}

TEST(BatchLoader, ShapesTypesAndBatchCount) {
  ImageSet set = synthetic_set();
  LoaderOptions o = LoaderOptions::evaluation(16);
  BatchLoader loader(set, all_indices(set), o, Normalizer::fit(set));
  EXPECT_EQ(loader.num_batches(), 4);
  auto batches = epoch_batches(loader, 0);
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_EQ(batches[0].x.sizes(), (std::vector<int64_t>{16, 3, 8, 8}));
  EXPECT_EQ(batches[0].x.dtype(), torch::kFloat32);
  EXPECT_EQ(batches[0].y.dtype(), torch::kInt64);
  EXPECT_EQ(batches[3].x.size(0), 2);
  o.drop_last = true;
  EXPECT_EQ(BatchLoader(set, all_indices(set), o, Normalizer::fit(set)).num_batches(), 3);
}

TEST(BatchLoader, UnaugmentedValuesAreNormalisedPixels) {
  ImageSet set = synthetic_set();
  Normalizer norm{{0.5f, 0.25f, 0.75f}, {0.2f, 0.4f, 0.1f}};
  BatchLoader loader(set, {7, 3}, LoaderOptions::evaluation(8), norm);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  auto raw = torch::from_blob(const_cast<uint8_t*>(set.image(7)), {3, 8, 8}, torch::kUInt8).to(torch::kFloat32);
  auto mean = torch::tensor(norm.mean).view({3, 1, 1}), sd = torch::tensor(norm.std).view({3, 1, 1});
  EXPECT_TRUE(torch::allclose(b.x[0], (raw / 255 - mean) / sd, 1e-5, 1e-5));
  EXPECT_EQ(b.y[1].item<int64_t>(), 3);
  EXPECT_FALSE(loader.next(b));
}

TEST(BatchLoader, ShuffleVisitsEveryIndexOncePerEpoch) {
  ImageSet set = synthetic_set();
  LoaderOptions o = train_opts();
  o.augment = false;
  BatchLoader loader(set, all_indices(set), o, Normalizer::identity(3));
  std::vector<int64_t> seen;
  for (const Batch& b : epoch_batches(loader, 1))
    for (int64_t k = 0; k < b.x.size(0); ++k) seen.push_back(std::lround(b.x[k][0][0][0].item<float>() * 255));
  EXPECT_NE(seen, all_indices(set));  // shuffled
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, all_indices(set));
}

TEST(BatchLoader, SameSeedAndEpochGiveIdenticalBatches) {
  ImageSet set = synthetic_set();
  BatchLoader a(set, all_indices(set), train_opts(), Normalizer::fit(set));
  BatchLoader b(set, all_indices(set), train_opts(), Normalizer::fit(set));
  epoch_batches(a, 0);  // history must not matter
  EXPECT_TRUE(same_batches(epoch_batches(a, 3), epoch_batches(b, 3)));
  EXPECT_FALSE(same_batches(epoch_batches(a, 3), epoch_batches(a, 4)));
  BatchLoader c(set, all_indices(set), train_opts(16, /*seed=*/6), Normalizer::fit(set));
  EXPECT_FALSE(same_batches(epoch_batches(a, 3), epoch_batches(c, 3)));
}

TEST(BatchLoader, PrefetchDoesNotChangeResults) {
  ImageSet set = synthetic_set();
  LoaderOptions sync = train_opts();
  sync.prefetch = false;
  BatchLoader a(set, all_indices(set), train_opts(), Normalizer::fit(set));
  BatchLoader b(set, all_indices(set), sync, Normalizer::fit(set));
  EXPECT_TRUE(same_batches(epoch_batches(a, 2), epoch_batches(b, 2)));
}

TEST(BatchLoader, SkipToEqualsIterating) {
  ImageSet set = synthetic_set();
  BatchLoader full(set, all_indices(set), train_opts(8), Normalizer::fit(set));
  const auto expected = epoch_batches(full, 2);
  BatchLoader resumed(set, all_indices(set), train_opts(8), Normalizer::fit(set));
  resumed.set_epoch(2);
  Batch b;
  ASSERT_TRUE(resumed.next(b));  // a prefetch for batch 1 is in flight and must be discarded
  resumed.skip_to(4);
  std::vector<Batch> rest;
  while (resumed.next(b)) rest.push_back(b);
  EXPECT_TRUE(same_batches(rest, std::vector<Batch>(expected.begin() + 4, expected.end())));
  EXPECT_THROW(resumed.skip_to(resumed.num_batches() + 1), Error);
}

// Each augmented image must equal its source shifted by (dy, dx) in [-pad, pad] with zero fill, possibly
// mirrored; over an epoch both shifts and flips must occur.
TEST(BatchLoader, AugmentationIsPaddedCropAndFlip) {
  ImageSet set = synthetic_set();
  LoaderOptions plain = train_opts(50);
  plain.augment = false;
  BatchLoader aug(set, all_indices(set), train_opts(50), Normalizer::identity(3));
  BatchLoader ref(set, all_indices(set), plain, Normalizer::identity(3));
  const Batch a = epoch_batches(aug, 1)[0], r = epoch_batches(ref, 1)[0];
  EXPECT_TRUE(torch::equal(a.y, r.y));  // augmentation does not change the order
  int shifted = 0, flipped = 0;
  for (int64_t k = 0; k < 50; ++k) {
    const auto src = r.x[k];
    bool found = false;
    for (int flip = 0; flip < 2 && !found; ++flip)
      for (int dy = -2; dy <= 2 && !found; ++dy)
        for (int dx = -2; dx <= 2 && !found; ++dx) {
          auto img = flip ? src.flip({2}) : src;
          auto expect = torch::zeros_like(img);
          const int y0 = std::max(0, -dy), y1 = std::min(8, 8 - dy), x0 = std::max(0, -dx), x1 = std::min(8, 8 - dx);
          using torch::indexing::Slice;
          expect.index_put_({Slice(), Slice(y0, y1), Slice(x0, x1)},
                            img.index({Slice(), Slice(y0 + dy, y1 + dy), Slice(x0 + dx, x1 + dx)}));
          if (torch::equal(expect, a.x[k])) {
            found = true;
            shifted += (dy != 0 || dx != 0);
            flipped += flip;
          }
        }
    EXPECT_TRUE(found) << "sample " << k << " is not a padded crop/flip of its source";
  }
  EXPECT_GT(shifted, 25);
  EXPECT_GT(flipped, 10);
  EXPECT_LT(flipped, 40);
}

TEST(BatchLoader, RejectsBadArguments) {
  ImageSet set = synthetic_set();
  EXPECT_THROW(BatchLoader(set, {50}, train_opts(), Normalizer::fit(set)), Error);
  EXPECT_THROW(BatchLoader(set, {0}, train_opts(), Normalizer::identity(1)), Error);
  EXPECT_THROW(BatchLoader(set, {0}, train_opts(0), Normalizer::fit(set)), Error);
}

TEST(BatchLoader, TrainingDefaultsFollowTheData) {
  ImageSet set = synthetic_set();
  EXPECT_TRUE(LoaderOptions::training(set, 64, 1).hflip);
  set.name = "mnist";
  LoaderOptions o = LoaderOptions::training(set, 64, 1);
  EXPECT_FALSE(o.hflip);
  EXPECT_TRUE(o.shuffle && o.augment && o.drop_last);
  EXPECT_EQ(o.batch_size, 64);
}

// The real Fashion-MNIST as Debian installs it (present here and in CI); loaded once for these tests.
class FashionMnist : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::filesystem::exists(kDebianFashionMnistDir))
      data_ = new TrainTest(load_train_test(DataSpec::parse("fmnist")));
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }
  void SetUp() override {
    if (!data_) GTEST_SKIP() << kDebianFashionMnistDir << " not installed";
  }
  static TrainTest* data_;
};
TrainTest* FashionMnist::data_ = nullptr;

TEST_F(FashionMnist, HasTheStandardShape) {
  const ImageSet& train = data_->train;
  EXPECT_EQ(train.size(), 60000);
  EXPECT_EQ(data_->test.size(), 10000);
  EXPECT_EQ(train.c, 1);
  EXPECT_EQ(train.h, 28);
  EXPECT_EQ(train.w, 28);
  EXPECT_EQ(train.num_classes, 10);
  std::vector<int> per_class(10, 0);
  for (int16_t l : train.labels) ++per_class[size_t(l)];
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[size_t(c)], 6000) << "class " << c;
}

TEST_F(FashionMnist, NormalisedTrainingSetHasZeroMeanUnitStd) {
  const ImageSet& train = data_->train;
  const Normalizer norm = Normalizer::fit(train);
  EXPECT_NEAR(norm.mean[0], 0.2860, 1e-3);  // the commonly quoted Fashion-MNIST statistics
  EXPECT_NEAR(norm.std[0], 0.3530, 1e-3);
  BatchLoader loader(train, all_indices(train), LoaderOptions::evaluation(128), norm);
  EXPECT_EQ(loader.num_batches(), 469);
  double sum = 0, sum_sq = 0;
  int64_t count = 0;
  Batch b;
  while (loader.next(b)) {
    sum += b.x.sum().item<double>();
    sum_sq += b.x.square().sum().item<double>();
    count += b.x.numel();
  }
  EXPECT_EQ(count, 60000 * 28 * 28);
  EXPECT_NEAR(sum / double(count), 0.0, 1e-3);
  EXPECT_NEAR(std::sqrt(sum_sq / double(count)), 1.0, 1e-3);
}

TEST_F(FashionMnist, SearchSplitAndTrainingLoader) {
  const TrainValIndices split = train_val_indices(data_->train.size(), 0.5, 0);
  EXPECT_EQ(split.train.size(), 30000u);
  BatchLoader loader(data_->train, split.train, LoaderOptions::training(data_->train, 128, 0),
                     Normalizer::fit(data_->train, split.train));
  EXPECT_EQ(loader.num_batches(), 234);
  loader.set_epoch(3);
  loader.skip_to(233);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.x.sizes(), (std::vector<int64_t>{128, 1, 28, 28}));
  EXPECT_FALSE(loader.next(b));
}

}  // namespace
}  // namespace nasc
