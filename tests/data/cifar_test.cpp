#include "data/cifar.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "data/data_spec.h"
#include "data_test_util.h"

namespace nasc {
namespace {

using test::error_of;
using test::TempDir;

// Records with the given labels; the pixels of record r are ramp(3072, 1, r) so every record differs.
std::vector<uint8_t> records(const std::vector<std::vector<uint8_t>>& labels) {
  std::vector<uint8_t> out;
  for (size_t r = 0; r < labels.size(); ++r) {
    out.insert(out.end(), labels[r].begin(), labels[r].end());
    const auto px = test::ramp(kCifarPixels, 1, int(r));
    out.insert(out.end(), px.begin(), px.end());
  }
  return out;
}

void write_cifar10(const TempDir& dir, int batches = 5) {
  for (int b = 1; b <= batches; ++b)
    test::write_plain(dir.file("cifar-10-batches-bin/data_batch_" + std::to_string(b) + ".bin"),
                      records({{uint8_t(b)}, {uint8_t(9 - b)}}));
  test::write_plain(dir.file("cifar-10-batches-bin/test_batch.bin"), records({{4}}));
}

TEST(Cifar, Cifar10ReadsAllBatchesInOrder) {
  TempDir dir;
  write_cifar10(dir);
  // The archive's own folder is found inside the given directory.
  TrainTest tt = load_train_test(DataSpec::parse("cifar10:" + dir.path()));
  EXPECT_EQ(tt.train.name, "cifar10");
  EXPECT_EQ(tt.train.size(), 10);
  EXPECT_EQ(tt.test.size(), 1);
  EXPECT_EQ(tt.train.c, 3);
  EXPECT_EQ(tt.train.h, 32);
  EXPECT_EQ(tt.train.w, 32);
  EXPECT_EQ(tt.train.num_classes, 10);
  EXPECT_EQ(tt.train.labels, (std::vector<int16_t>{1, 8, 2, 7, 3, 6, 4, 5, 5, 4}));
  EXPECT_EQ(tt.test.labels, (std::vector<int16_t>{4}));
  const auto second = test::ramp(kCifarPixels, 1, 1);
  EXPECT_TRUE(std::equal(second.begin(), second.end(), tt.train.image(3)));
}

TEST(Cifar, Cifar100UsesFineLabels) {
  TempDir dir;
  test::write_plain(dir.file("train.bin"), records({{1, 42}, {19, 99}, {0, 7}}));
  test::write_plain(dir.file("test.bin"), records({{3, 61}}));
  TrainTest tt = load_train_test(DataSpec::parse("cifar100:" + dir.path()));
  EXPECT_EQ(tt.train.num_classes, 100);
  EXPECT_EQ(tt.train.labels, (std::vector<int16_t>{42, 99, 7}));
  EXPECT_EQ(tt.test.labels, (std::vector<int16_t>{61}));
  const auto px = test::ramp(kCifarPixels, 1, 2);
  EXPECT_TRUE(std::equal(px.begin(), px.end(), tt.train.image(2)));
}

TEST(Cifar, SizeNotMultipleOfRecordRejected) {
  TempDir dir;
  auto bytes = records({{1}, {2}});
  bytes.resize(bytes.size() - 5);
  test::write_plain(dir.file("test_batch.bin"), bytes);
  const std::string msg = error_of([&] { load_cifar10(dir.path(), false); });
  EXPECT_NE(msg.find("test_batch.bin: size 6141 is not a multiple of the 3073-byte CIFAR record"), std::string::npos)
      << msg;
}

TEST(Cifar, MissingFileNamed) {
  TempDir dir;
  write_cifar10(dir, /*batches=*/4);
  const std::string msg = error_of([&] { load_cifar10(dir.path(), true); });
  EXPECT_NE(msg.find("data_batch_5.bin"), std::string::npos) << msg;
}

TEST(Cifar, LabelOutOfRangeRejected) {
  TempDir dir;
  test::write_plain(dir.file("test_batch.bin"), records({{3}, {10}}));
  const std::string msg = error_of([&] { load_cifar10(dir.path(), false); });
  EXPECT_NE(msg.find("label 10 in record 1 out of range (expected 0 to 9)"), std::string::npos) << msg;
}

}  // namespace
}  // namespace nasc
