#include "data/data_spec.h"

#include "common/error.h"
#include "data/cifar.h"
#include "data/idx.h"

namespace nasc {
namespace {

constexpr const char* kAcceptedForms = "fmnist, fmnist:DIR, mnist:DIR, cifar10:DIR or cifar100:DIR";

}  // namespace

DataSpec DataSpec::parse(const std::string& text) {
  const auto colon = text.find(':');
  DataSpec spec;
  spec.kind = text.substr(0, colon);
  spec.dir = colon == std::string::npos ? "" : text.substr(colon + 1);
  const bool known = spec.kind == "fmnist" || spec.kind == "mnist" || spec.kind == "cifar10" || spec.kind == "cifar100";
  if (!known) fail("unknown data set '", text, "' (expected ", kAcceptedForms, ")");
  if (spec.dir.empty()) {
    if (spec.kind != "fmnist" || colon != std::string::npos)
      fail("data set '", text, "' needs a directory (expected ", kAcceptedForms, ")");
    spec.dir = kDebianFashionMnistDir;
  }
  return spec;
}

std::string DataSpec::to_string() const { return kind + ":" + dir; }

TrainTest load_train_test(const DataSpec& spec) {
  TrainTest tt;
  if (spec.kind == "fmnist" || spec.kind == "mnist") {
    tt.train = load_idx_dir(spec.dir, /*train=*/true, spec.kind);
    tt.test = load_idx_dir(spec.dir, /*train=*/false, spec.kind);
  } else if (spec.kind == "cifar10") {
    tt.train = load_cifar10(spec.dir, true);
    tt.test = load_cifar10(spec.dir, false);
  } else if (spec.kind == "cifar100") {
    tt.train = load_cifar100(spec.dir, true);
    tt.test = load_cifar100(spec.dir, false);
  } else {
    fail("unknown data set kind '", spec.kind, "' (expected ", kAcceptedForms, ")");
  }
  if (tt.train.h != tt.test.h || tt.train.w != tt.test.w)
    fail(spec.to_string(), ": train images are ", tt.train.h, "x", tt.train.w, " but test images are ", tt.test.h,
         "x", tt.test.w, " (expected the same size)");
  return tt;
}

}  // namespace nasc
