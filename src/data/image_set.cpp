#include "data/image_set.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "common/error.h"
#include "data/random.h"

namespace nasc {

ImageSet subset(const ImageSet& set, const std::vector<int64_t>& idx) {
  ImageSet out;
  out.name = set.name;
  out.c = set.c;
  out.h = set.h;
  out.w = set.w;
  out.num_classes = set.num_classes;
  const int64_t bytes = set.image_bytes();
  out.pixels.resize(idx.size() * size_t(bytes));
  out.labels.resize(idx.size());
  for (size_t k = 0; k < idx.size(); ++k) {
    const int64_t i = idx[k];
    if (i < 0 || i >= set.size())
      fail("subset of ", set.name, ": index ", i, " out of range (expected 0..", set.size() - 1, ")");
    std::memcpy(out.pixels.data() + k * bytes, set.image(i), size_t(bytes));
    out.labels[k] = set.labels[size_t(i)];
  }
  return out;
}

ImageSet pad_and_repeat(const ImageSet& set, int channels, int h, int w) {
  if (h < set.h || w < set.w)
    fail(set.name, ": cannot pad ", set.h, "x", set.w, " images to ", h, "x", w, " (expected a canvas at least as large)");
  if (set.c != channels && set.c != 1)
    fail(set.name, ": cannot turn ", set.c, "-channel images into ", channels, " channels (expected 1 or ", channels, ")");
  ImageSet out;
  out.name = set.name;
  out.c = channels;
  out.h = h;
  out.w = w;
  out.num_classes = set.num_classes;
  out.labels = set.labels;
  out.pixels.assign(size_t(set.size()) * size_t(out.image_bytes()), 0);
  const int top = (h - set.h) / 2, left = (w - set.w) / 2;
  for (int64_t i = 0; i < set.size(); ++i) {
    const uint8_t* src = set.image(i);
    uint8_t* dst = out.pixels.data() + i * out.image_bytes();
    for (int c = 0; c < channels; ++c) {
      const uint8_t* plane = src + (set.c == 1 ? 0 : c) * set.h * set.w;
      for (int y = 0; y < set.h; ++y)
        std::memcpy(dst + (int64_t(c) * h + top + y) * w + left, plane + y * set.w, size_t(set.w));
    }
  }
  return out;
}

TrainValIndices train_val_indices(int64_t n, double val_fraction, uint64_t seed) {
  if (n < 0) fail("train_val_indices: negative size ", n);
  if (!(val_fraction >= 0.0 && val_fraction <= 1.0))
    fail("validation fraction ", val_fraction, " out of range (expected 0 to 1)");
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t(0));
  fisher_yates(perm, seed);
  const auto n_val = size_t(std::llround(double(n) * val_fraction));
  TrainValIndices s;
  s.val.assign(perm.begin(), perm.begin() + n_val);
  s.train.assign(perm.begin() + n_val, perm.end());
  std::sort(s.val.begin(), s.val.end());
  std::sort(s.train.begin(), s.train.end());
  return s;
}

}  // namespace nasc
