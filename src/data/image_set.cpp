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

std::vector<int64_t> stratified_order(const ImageSet& set, const std::vector<int64_t>& idx, uint64_t seed) {
  std::vector<std::vector<int64_t>> by_class(size_t(std::max(set.num_classes, 1)));
  for (int64_t i : idx) {
    if (i < 0 || i >= set.size())
      fail("stratified order of ", set.name, ": index ", i, " out of range (expected 0..", set.size() - 1, ")");
    const int label = set.labels[size_t(i)];
    if (label < 0 || label >= int(by_class.size()))
      fail(set.name, ": label ", label, " of image ", i, " out of range (expected 0..", by_class.size() - 1, ")");
    by_class[size_t(label)].push_back(i);
  }
  // The k-th image of a class of n sits at (k + 1/2) / n of the order: a prefix of length N then holds
  // round(N x n / total) of the class, to within one.
  struct Slot {
    double at;
    int label;
    int64_t index;
  };
  std::vector<Slot> slots;
  slots.reserve(idx.size());
  for (size_t c = 0; c < by_class.size(); ++c) {
    auto& members = by_class[c];
    fisher_yates(members, mix_seed(seed, c));
    const double n = double(members.size());
    for (size_t k = 0; k < members.size(); ++k) slots.push_back({(double(k) + 0.5) / n, int(c), members[k]});
  }
  std::sort(slots.begin(), slots.end(),
            [](const Slot& a, const Slot& b) { return a.at != b.at ? a.at < b.at : a.label < b.label; });
  std::vector<int64_t> order;
  order.reserve(slots.size());
  for (const Slot& s : slots) order.push_back(s.index);
  return order;
}

std::vector<int64_t> stratified_subset(const ImageSet& set, int64_t limit, uint64_t seed) {
  std::vector<int64_t> all(size_t(set.size()));
  std::iota(all.begin(), all.end(), int64_t(0));
  if (limit <= 0 || limit >= set.size()) return all;
  std::vector<int64_t> order = stratified_order(set, all, seed);
  order.resize(size_t(limit));
  std::sort(order.begin(), order.end());
  return order;
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
