#include "data/idx.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "data_test_util.h"

namespace nasc {
namespace {

using test::error_of;
using test::idx_images;
using test::idx_labels;
using test::ramp;
using test::TempDir;

TEST(Idx, GzipFilesReadBackExactly) {
  TempDir dir;
  const auto pixels = ramp(3 * 2 * 5);
  test::write_gz(dir.file("img.gz"), idx_images(3, 2, 5, pixels));
  test::write_gz(dir.file("lab.gz"), idx_labels({7, 0, 9}));
  ImageSet set = read_idx_pair(dir.file("img.gz"), dir.file("lab.gz"), 10, "fmnist");
  EXPECT_EQ(set.name, "fmnist");
  EXPECT_EQ(set.size(), 3);
  EXPECT_EQ(set.c, 1);
  EXPECT_EQ(set.h, 2);
  EXPECT_EQ(set.w, 5);
  EXPECT_EQ(set.num_classes, 10);
  EXPECT_EQ(set.pixels, pixels);
  EXPECT_EQ(set.labels, (std::vector<int16_t>{7, 0, 9}));
}

TEST(Idx, DirectoryPrefersGzipAndFallsBackToPlainFiles) {
  TempDir dir;
  test::write_plain(dir.file("train-images-idx3-ubyte"), idx_images(2, 4, 4, ramp(32)));
  test::write_plain(dir.file("train-labels-idx1-ubyte"), idx_labels({1, 2}));
  ImageSet train = load_idx_dir(dir.path(), true, "mnist");
  EXPECT_EQ(train.size(), 2);
  EXPECT_EQ(train.pixels, ramp(32));

  test::write_gz(dir.file("train-labels-idx1-ubyte.gz"), idx_labels({3, 4}));
  EXPECT_EQ(load_idx_dir(dir.path(), true, "mnist").labels, (std::vector<int16_t>{3, 4}));

  const std::string msg = error_of([&] { load_idx_dir(dir.path(), false, "mnist"); });
  EXPECT_NE(msg.find("t10k-images-idx3-ubyte.gz"), std::string::npos) << msg;
}

TEST(Idx, WrongMagicRejected) {
  TempDir dir;
  test::write_gz(dir.file("img.gz"), idx_images(1, 2, 2, ramp(4), /*magic=*/0x00000801));
  const std::string msg = error_of([&] { read_idx_images(dir.file("img.gz")); });
  EXPECT_NE(msg.find(dir.file("img.gz") + ": bad magic 0x00000801 (expected 0x00000803 for IDX images)"),
            std::string::npos)
      << msg;
  test::write_gz(dir.file("lab.gz"), idx_images(1, 2, 2, ramp(4)));
  EXPECT_NE(error_of([&] { read_idx_labels(dir.file("lab.gz")); }).find("expected 0x00000801 for IDX labels"),
            std::string::npos);
}

TEST(Idx, TruncatedDataRejected) {
  TempDir dir;
  test::write_gz(dir.file("img.gz"), idx_images(3, 28, 28, ramp(2 * 28 * 28)));
  const std::string msg = error_of([&] { read_idx_images(dir.file("img.gz")); });
  EXPECT_NE(msg.find("truncated: header declares 3 images of 28x28 but only 1568 bytes of data"), std::string::npos)
      << msg;
  test::write_gz(dir.file("lab.gz"), idx_labels({1, 2}, /*declared=*/5));
  EXPECT_NE(error_of([&] { read_idx_labels(dir.file("lab.gz")); })
                .find("truncated: header declares 5 labels but only 2 bytes"),
            std::string::npos);
  test::write_gz(dir.file("short.gz"), {0, 0, 8, 3, 0, 0});
  EXPECT_NE(error_of([&] { read_idx_images(dir.file("short.gz")); }).find("truncated header (6 of 16 bytes)"),
            std::string::npos);
}

TEST(Idx, CountMismatchRejected) {
  TempDir dir;
  test::write_gz(dir.file("img.gz"), idx_images(3, 2, 2, ramp(12)));
  test::write_gz(dir.file("lab.gz"), idx_labels({1, 2}));
  const std::string msg = error_of([&] { read_idx_pair(dir.file("img.gz"), dir.file("lab.gz"), 10, "x"); });
  EXPECT_EQ(msg, dir.file("img.gz") + " has 3 images but " + dir.file("lab.gz") + " has 2 labels");
}

TEST(Idx, LabelOutOfRangeRejected) {
  TempDir dir;
  test::write_gz(dir.file("img.gz"), idx_images(2, 2, 2, ramp(8)));
  test::write_gz(dir.file("lab.gz"), idx_labels({3, 10}));
  const std::string msg = error_of([&] { read_idx_pair(dir.file("img.gz"), dir.file("lab.gz"), 10, "x"); });
  EXPECT_NE(msg.find("label 10 at index 1 out of range (expected 0 to 9)"), std::string::npos) << msg;
}

TEST(Idx, ImplausibleHeadersRejectedBeforeAllocating) {
  TempDir dir;
  test::write_gz(dir.file("many.gz"), idx_images(20'000'000, 28, 28, ramp(100)));
  EXPECT_NE(error_of([&] { read_idx_images(dir.file("many.gz")); }).find("declares 20000000 images"),
            std::string::npos);
  test::write_gz(dir.file("wide.gz"), idx_images(1, 28, 5000, ramp(100)));
  EXPECT_NE(error_of([&] { read_idx_images(dir.file("wide.gz")); }).find("images of 28x5000"), std::string::npos);
  test::write_gz(dir.file("huge.gz"), idx_images(10'000'000, 4096, 4096, ramp(100)));
  EXPECT_NE(error_of([&] { read_idx_images(dir.file("huge.gz")); }).find("expected at most"), std::string::npos);
  // A plausible but false count over a tiny file: reading stops at the real data, reporting what is there.
  test::write_plain(dir.file("liar"), idx_images(9'000'000, 28, 28, ramp(100)));
  EXPECT_NE(error_of([&] { read_idx_images(dir.file("liar")); }).find("but only 100 bytes"), std::string::npos);
}

TEST(Idx, TrailingDataAndCorruptGzipRejected) {
  TempDir dir;
  test::write_gz(dir.file("long.gz"), idx_images(1, 2, 2, ramp(5)));
  EXPECT_NE(error_of([&] { read_idx_images(dir.file("long.gz")); }).find("trailing data"), std::string::npos);

  test::write_gz(dir.file("good.gz"), idx_images(50, 28, 28, ramp(50 * 28 * 28, 131, 17)));
  std::ifstream in(dir.file("good.gz"), std::ios::binary);
  std::vector<uint8_t> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<uint8_t> cut(gz.begin(), gz.begin() + gz.size() / 2);
  test::write_plain(dir.file("cut.gz"), cut);
  EXPECT_THROW(read_idx_images(dir.file("cut.gz")), Error);
  for (size_t i = 20; i < gz.size() - 8; i += 7) gz[i] ^= 0x5a;
  test::write_plain(dir.file("bad.gz"), gz);
  EXPECT_THROW(read_idx_images(dir.file("bad.gz")), Error);
}

TEST(Idx, MissingFileNamed) {
  const std::string msg = error_of([] { read_idx_images("/nonexistent/dir/img.gz"); });
  EXPECT_NE(msg.find("/nonexistent/dir/img.gz"), std::string::npos) << msg;
}

}  // namespace
}  // namespace nasc
