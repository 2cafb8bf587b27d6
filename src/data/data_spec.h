// Which data set a run uses, as written on the command line and in configs ("fmnist", "cifar10:DIR", ...),
// and loading its train and test splits.
#pragma once
#include <string>

#include "data/image_set.h"

namespace nasc {

// Where Debian's dataset-fashion-mnist package installs the files.
constexpr const char* kDebianFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// The forms DataSpec::parse accepts, for help texts and messages.
constexpr const char* kDataSpecForms =
    "fmnist, fmnist32 (padded to 3x32x32), fmnist:DIR, fmnist32:DIR, mnist:DIR, mnist32:DIR, cifar10:DIR, "
    "cifar100:DIR or folder:DIR (your own images: DIR/train/<class>/*.png|*.jpg beside DIR/test/<class>/, or "
    "DIR/<class>/ with an optional DIR/test/<class>/)";

struct DataSpec {
  // fmnist | mnist | cifar10 | cifar100, or fmnist32 | mnist32: the grey 28x28 images centred on a 32x32 canvas
  // and repeated to 3 channels, for spaces of the CIFAR geometry (hwnas-cifar10); or folder: own images.
  std::string kind;
  std::string dir;

  // Accepts fmnist, fmnist32, KIND:DIR for every kind; throws Error naming the spec otherwise.
  static DataSpec parse(const std::string& text);
  std::string to_string() const;  // kind:dir, which parse() reads back
};

struct TrainTest {
  ImageSet train, test;
};

// height x width: the size the space takes, to which folder images are resized (0 x 0: keep their size; the
// other kinds have a fixed size and ignore it).
TrainTest load_train_test(const DataSpec& spec, int height = 0, int width = 0);

}  // namespace nasc
