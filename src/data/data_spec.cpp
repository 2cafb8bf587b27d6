#include "data/data_spec.h"

#include "common/error.h"
#include "data/cifar.h"
#include "data/idx.h"
#include "data/image_folder.h"

namespace nasc {
namespace {

bool is_padded(const std::string& kind) { return kind == "fmnist32" || kind == "mnist32"; }

}  // namespace

DataSpec DataSpec::parse(const std::string& text) {
  const auto colon = text.find(':');
  DataSpec spec;
  spec.kind = text.substr(0, colon);
  spec.dir = colon == std::string::npos ? "" : text.substr(colon + 1);
  const bool known = spec.kind == "fmnist" || spec.kind == "mnist" || spec.kind == "cifar10" ||
                     spec.kind == "cifar100" || spec.kind == "folder" || is_padded(spec.kind);
  if (!known) fail("unknown data set '", text, "' (expected ", kDataSpecForms, ")");
  if (spec.dir.empty()) {
    if ((spec.kind != "fmnist" && spec.kind != "fmnist32") || colon != std::string::npos)
      fail("data set '", text, "' needs a directory (expected ", kDataSpecForms, ")");
    spec.dir = kDebianFashionMnistDir;
  }
  return spec;
}

std::string DataSpec::to_string() const { return kind + ":" + dir; }

TrainTest load_train_test(const DataSpec& spec, int height, int width) {
  TrainTest tt;
  if (spec.kind == "folder") {
    ImageFolderOptions opt;
    opt.height = height;
    opt.width = width;
    tt = load_image_folder(spec.dir, opt);
  } else if (is_padded(spec.kind)) {
    const std::string base = spec.kind.substr(0, spec.kind.size() - 2);
    tt.train = pad_and_repeat(load_idx_dir(spec.dir, /*train=*/true, base), 3, 32, 32);
    tt.test = pad_and_repeat(load_idx_dir(spec.dir, /*train=*/false, base), 3, 32, 32);
    tt.train.name = tt.test.name = spec.kind;
  } else if (spec.kind == "fmnist" || spec.kind == "mnist") {
    tt.train = load_idx_dir(spec.dir, /*train=*/true, spec.kind);
    tt.test = load_idx_dir(spec.dir, /*train=*/false, spec.kind);
  } else if (spec.kind == "cifar10") {
    tt.train = load_cifar10(spec.dir, true);
    tt.test = load_cifar10(spec.dir, false);
  } else if (spec.kind == "cifar100") {
    tt.train = load_cifar100(spec.dir, true);
    tt.test = load_cifar100(spec.dir, false);
  } else {
    fail("unknown data set kind '", spec.kind, "' (expected ", kDataSpecForms, ")");
  }
  if (tt.train.h != tt.test.h || tt.train.w != tt.test.w)
    fail(spec.to_string(), ": train images are ", tt.train.h, "x", tt.train.w, " but test images are ", tt.test.h,
         "x", tt.test.w, " (expected the same size)");
  return tt;
}

}  // namespace nasc
