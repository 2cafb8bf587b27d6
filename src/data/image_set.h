// Image classification data held in memory without torch: uint8 pixels in NCHW order and integer labels,
// plus subsets and the seeded train/validation split used by the search.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace nasc {

struct ImageSet {
  std::string name;  // data set kind: fmnist, mnist, cifar10, cifar100
  int c = 0, h = 0, w = 0;
  int num_classes = 0;
  std::vector<uint8_t> pixels;  // size() * c * h * w, image after image, each channel-major
  std::vector<int16_t> labels;  // one per image, in [0, num_classes)

  int64_t size() const { return int64_t(labels.size()); }
  int64_t image_bytes() const { return int64_t(c) * h * w; }
  const uint8_t* image(int64_t i) const { return pixels.data() + i * image_bytes(); }
};

// The images at `idx` (in that order); throws Error on an index outside [0, set.size()).
ImageSet subset(const ImageSet& set, const std::vector<int64_t>& idx);

// Every image centred on a zero canvas of h x w and, for a one-channel set, repeated to `channels` channels:
// grey 28x28 Fashion-MNIST as 3x32x32 images for spaces of the CIFAR geometry. Throws when the canvas is
// smaller than the images or the channel counts cannot be matched (expected 1 -> N or N -> N).
ImageSet pad_and_repeat(const ImageSet& set, int channels, int h, int w);

struct TrainValIndices {
  std::vector<int64_t> train, val;  // each sorted ascending
};

// The indices `idx` of `set` in a seeded order whose every prefix holds each class in proportion (to within one
// image): classes are shuffled within themselves and interleaved by their share. So the first N of it is a
// stratified subset, and consecutive batches of it are mixed, never one class (image folders and many files are
// sorted by class, where "the first N" is one or two classes). The same (labels, idx, seed) gives the same order
// on every machine.
std::vector<int64_t> stratified_order(const ImageSet& set, const std::vector<int64_t>& idx, uint64_t seed);

// The seed of every data limit (--train-limit, --test-limit, the search's eval limit): the same images for every
// run and every training seed, so that runs with equal limits compare on equal data.
constexpr uint64_t kLimitSeed = 0x5AB5E7ULL;

// A stratified, seeded subset of `limit` images of `set` (all of them when limit <= 0 or >= size), ascending.
std::vector<int64_t> stratified_subset(const ImageSet& set, int64_t limit, uint64_t seed);

// Deterministic split of [0, n): round(n * val_fraction) indices go to val, the rest to train; the same
// (n, val_fraction, seed) gives the same split on every machine.
TrainValIndices train_val_indices(int64_t n, double val_fraction, uint64_t seed);

}  // namespace nasc
