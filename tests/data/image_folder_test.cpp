// Own images in the ImageFolder layout: PNG and JPEG folders written here with stb_image_write, loaded, resized
// and split; every kind of bad folder refused with one line naming the file; and a network that learns from them.
#ifdef NASC_STB_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#endif
#include "data/image_folder.h"

#include <gtest/gtest.h>
#include <stb/stb_image_write.h>

#include <filesystem>
#include <fstream>

#include "data_test_util.h"
#include "space/space.h"
#include "train/trainer.h"

namespace nasc {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::TempDir;

// A w x h image of one colour (channels 1 or 3), with a little per-image texture so images differ.
void write_image(const fs::path& p, int w, int h, int channels, std::array<uint8_t, 3> rgb, int variant = 0) {
  fs::create_directories(p.parent_path());
  std::vector<uint8_t> px(size_t(w) * h * channels);
  for (int i = 0; i < w * h; ++i)
    for (int c = 0; c < channels; ++c) px[size_t(i) * channels + c] = uint8_t(rgb[c] + ((i + variant) % 3));
  const std::string ext = p.extension().string();
  int ok = ext == ".jpg" ? stbi_write_jpg(p.c_str(), w, h, channels, px.data(), 95)
                         : stbi_write_png(p.c_str(), w, h, channels, px.data(), w * channels);
  ASSERT_TRUE(ok) << p;
}

// Distinct in every channel, so that grey folders (channel 0 only) separate the classes too.
const std::array<uint8_t, 3> kColour[3] = {{200, 20, 110}, {110, 200, 20}, {20, 110, 200}};

// Classes written out of order (dog, bird, cat): labels follow the sorted names bird = 0, cat = 1, dog = 2.
void write_classes(const fs::path& dir, int per_class, int channels, const char* ext = ".png") {
  const char* names[3] = {"bird", "cat", "dog"};
  for (int k : {2, 0, 1})
    for (int i = 0; i < per_class; ++i)
      write_image(dir / names[k] / ("img" + std::to_string(i) + ext), 12, 10, channels, kColour[k], i);
}

TEST(ImageFolder, ClassesInSortedOrderResizedAndSplitPerClassWithASeed) {
  TempDir t;
  write_classes(t.path(), 5, 3);
  std::ofstream(t.file("README.txt")) << "not a class";  // stray files at the top and in classes are ignored
  std::ofstream(t.file("cat/notes.txt")) << "not an image";
  ImageFolderOptions o;
  o.height = 8;
  o.width = 6;
  TrainTest tt = load_image_folder(t.path(), o);
  EXPECT_EQ(tt.train.num_classes, 3);
  EXPECT_EQ(tt.train.size(), 12);  // 5 per class, round(5 x 0.2) = 1 to the test part
  EXPECT_EQ(tt.test.size(), 3);
  for (const ImageSet* s : {&tt.train, &tt.test}) {
    EXPECT_EQ(s->c, 3);
    EXPECT_EQ(s->h, 8);
    EXPECT_EQ(s->w, 6);
    for (int64_t i = 0; i < s->size(); ++i) {
      const int k = s->labels[i];
      for (int c = 0; c < 3; ++c)  // channel-major: the first h x w values are red, then green, then blue
        EXPECT_NEAR(s->image(i)[c * 48 + 17], kColour[k][c], 3) << "image " << i << " class " << k << " channel " << c;
    }
  }
  std::vector<int> test_labels(tt.test.labels.begin(), tt.test.labels.end());
  std::sort(test_labels.begin(), test_labels.end());
  EXPECT_EQ(test_labels, (std::vector<int>{0, 1, 2}));
  TrainTest again = load_image_folder(t.path(), o);
  EXPECT_EQ(again.test.pixels, tt.test.pixels) << "the split is a function of the seed";
  // Without a size, the images keep theirs.
  TrainTest native = load_image_folder(t.path(), ImageFolderOptions{});
  EXPECT_EQ(native.train.h, 10);
  EXPECT_EQ(native.train.w, 12);
}

TEST(ImageFolder, ATestFolderIsTheTestSplitAndJpegIsRead) {
  TempDir t;
  write_classes(t.path(), 3, 3, ".jpg");
  write_image(fs::path(t.path()) / "test" / "cat" / "a.png", 12, 10, 3, kColour[1]);
  write_image(fs::path(t.path()) / "test" / "dog" / "b.jpg", 12, 10, 3, kColour[2]);
  TrainTest tt = load_train_test(DataSpec::parse("folder:" + t.path()), 12, 12);
  EXPECT_EQ(tt.train.name, "folder");
  EXPECT_EQ(tt.train.num_classes, 3);
  EXPECT_EQ(tt.train.size(), 9) << "all training images stay in training";
  ASSERT_EQ(tt.test.size(), 2);
  EXPECT_EQ(tt.test.labels[0], 1);
  EXPECT_EQ(tt.test.labels[1], 2);
  EXPECT_EQ(tt.test.c, 3);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(tt.train.image(0)[c * 144 + 50], kColour[0][c], 8) << "bird, JPEG";
}

TEST(ImageFolder, TrainBesideTestOrValIsTheUsualSplitLayout) {
  for (const char* held_out : {"test", "val"}) {
    TempDir t;
    write_classes(fs::path(t.path()) / "train", 4, 3);
    write_classes(fs::path(t.path()) / held_out, 2, 3, ".jpg");
    TrainTest tt = load_train_test(DataSpec::parse("folder:" + t.path()), 12, 12);
    EXPECT_EQ(tt.train.num_classes, 3) << held_out << ": train/ and " << held_out << "/ are not classes";
    EXPECT_EQ(tt.train.size(), 12) << held_out;
    ASSERT_EQ(tt.test.size(), 6) << held_out;
    EXPECT_EQ(tt.test.labels, (std::vector<int16_t>{0, 0, 1, 1, 2, 2})) << held_out;
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(tt.test.image(5)[c * 144 + 50], kColour[2][c], 8) << "dog, JPEG";
  }
  TempDir t;  // train/ alone: the test part is a seeded split of it, as for the classes at the top
  write_classes(fs::path(t.path()) / "train", 5, 3);
  TrainTest tt = load_image_folder(t.path(), ImageFolderOptions{});
  EXPECT_EQ(tt.train.size(), 12);
  EXPECT_EQ(tt.test.size(), 3);
  TempDir bad;
  write_classes(fs::path(bad.path()) / "train", 2, 3);
  write_image(fs::path(bad.path()) / "test" / "fish" / "a.png", 12, 10, 3, {9, 9, 9});
  const std::string e = error_of([&] { load_image_folder(bad.path(), {}); });
  EXPECT_NE(e.find("test class 'fish' has no training folder"), std::string::npos) << e;
  EXPECT_NE(e.find("train/fish"), std::string::npos) << e;
}

TEST(ImageFolder, ManyImagesDecodeInParallelAndTheFirstBadOneInListOrderIsReported) {
  TempDir t;
  write_classes(t.path(), 40, 3, ".jpg");
  const fs::path cat_bad = fs::path(t.path()) / "cat" / "img25x.jpg", dog_bad = fs::path(t.path()) / "dog" / "img0x.jpg";
  std::ofstream(cat_bad) << "broken";
  std::ofstream(dog_bad) << "broken";
  for (int run = 0; run < 3; ++run) {  // whichever thread meets which first
    const std::string e = error_of([&] { load_image_folder(t.path(), ImageFolderOptions{}); });
    EXPECT_NE(e.find("cat/img25x.jpg: not a readable"), std::string::npos) << e;
  }
  fs::remove(cat_bad);
  std::string e = error_of([&] { load_image_folder(t.path(), ImageFolderOptions{}); });
  EXPECT_NE(e.find("dog/img0x.jpg: not a readable"), std::string::npos) << e;
  fs::remove(dog_bad);
  const fs::path grey = fs::path(t.path()) / "cat" / "img7x.png";  // PNG: stb writes every JPEG in colour
  write_image(grey, 12, 10, 1, {9, 9, 9});
  e = error_of([&] { load_image_folder(t.path(), ImageFolderOptions{}); });
  EXPECT_NE(e.find("cat/img7x.png: grey image"), std::string::npos) << e;
  fs::remove(grey);
  ImageFolderOptions o;
  o.test_fraction = 0.25;
  TrainTest tt = load_image_folder(t.path(), o);
  EXPECT_EQ(tt.train.size(), 90);
  EXPECT_EQ(tt.test.size(), 30);
  for (const ImageSet* s : {&tt.train, &tt.test})
    for (int64_t i = 0; i < s->size(); ++i)
      EXPECT_NEAR(s->image(i)[50], kColour[s->labels[size_t(i)]][0], 8) << "image " << i << " has its class's pixels";
}

TEST(ImageFolder, BadFoldersAreRefusedWithOneLineNamingTheFile) {
  auto expect = [](const std::function<void(const fs::path&)>& make, const std::string& fragment) {
    TempDir t;
    write_classes(t.path(), 2, 3);
    make(t.path());
    const std::string e = error_of([&] { load_image_folder(t.path(), ImageFolderOptions{}); });
    EXPECT_NE(e.find(fragment), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  };
  expect([](const fs::path& d) { std::ofstream(d / "cat" / "broken.png") << "not a png at all"; },
         "cat/broken.png: not a readable PNG, JPEG or BMP image");
  expect(
      [](const fs::path& d) {
        std::ifstream in(d / "cat" / "img0.png", std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), {});
        std::ofstream(d / "cat" / "cut.png", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
      },
      "cat/cut.png: corrupt image");
  expect([](const fs::path& d) { fs::create_directories(d / "empty"); }, "empty: class folder holds no image");
  expect([](const fs::path& d) { write_image(d / "dog" / "grey.png", 12, 10, 1, {9, 9, 9}); },
         "dog/grey.png: grey image, but ");
  expect([](const fs::path& d) { write_image(d / "test" / "fish" / "a.png", 12, 10, 3, {9, 9, 9}); },
         "test class 'fish' has no training folder");
  expect([](const fs::path& d) { write_image(d / "dog" / "big.png", 20, 10, 3, {9, 9, 9}); },
         "dog/big.png: 10x20 image, but ");
  TempDir t;
  write_classes(t.path(), 2, 3);
  ImageFolderOptions small;
  small.max_pixels = 100;
  EXPECT_NE(error_of([&] { load_image_folder(t.path(), small); }).find("exceeds the limit of 100 pixels"),
            std::string::npos);
  TempDir none;
  EXPECT_NE(error_of([&] { load_image_folder(none.path(), {}); }).find("no class folders"), std::string::npos);
  EXPECT_NE(error_of([&] { load_image_folder(none.file("absent"), {}); }).find("not a folder"), std::string::npos);
}

TEST(ImageFolder, ANetworkLearnsOwnImagesWellAboveChance) {
  TempDir t;
  write_classes(t.path(), 20, 1);
  SpaceConfig cfg = SpaceConfig::preset("tiny");
  cfg.num_classes = 3;
  Space space(cfg);
  TrainTest tt = load_train_test(DataSpec::parse("folder:" + t.path()), space.input_shape().h, space.input_shape().w);
  ASSERT_EQ(tt.train.h, 28);
  TrainOptions o;
  o.epochs = 12;
  o.batch_size = 8;
  o.lr = 0.01;  // 0.05 jumps between 1/3 and 1 from epoch to epoch (tiny flat batches), on some LibTorch versions at the end
  o.augment = false;
  Trainer trainer(space, space.default_arch(), o, torch::kCPU);
  TrainResult r = trainer.run(tt, "", false);
  EXPECT_GE(r.test_accuracy, 0.99) << "three flat colours; chance is 1/3";
}

}  // namespace
}  // namespace nasc
