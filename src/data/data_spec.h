// Which data set a run uses, as written on the command line and in configs ("fmnist", "cifar10:DIR", ...),
// and loading its train and test splits.
#pragma once
#include <string>

#include "data/image_set.h"

namespace nasc {

// Where Debian's dataset-fashion-mnist package installs the files.
constexpr const char* kDebianFashionMnistDir = "/usr/share/datasets/fashion-mnist";

struct DataSpec {
  std::string kind;  // fmnist | mnist | cifar10 | cifar100
  std::string dir;

  // Accepts fmnist, fmnist:DIR, mnist:DIR, cifar10:DIR, cifar100:DIR; throws Error naming the spec otherwise.
  static DataSpec parse(const std::string& text);
  std::string to_string() const;  // kind:dir, which parse() reads back
};

struct TrainTest {
  ImageSet train, test;
};

TrainTest load_train_test(const DataSpec& spec);

}  // namespace nasc
