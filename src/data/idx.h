// Reader for the IDX format of MNIST and Fashion-MNIST (gzip-compressed as distributed, or uncompressed),
// validating every header field against the file's real contents before trusting it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image_set.h"

namespace nasc {

// Limits on what a header may declare; anything above is taken as a corrupt file, not a request to allocate.
constexpr int64_t kIdxMaxItems = 10'000'000;
constexpr int kIdxMaxSide = 4096;
constexpr int64_t kIdxMaxPixelBytes = int64_t(1) << 34;  // 16 GiB

struct IdxImages {
  int64_t count = 0;
  int rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols
};

// Both accept gzip or plain files (zlib reads plain files transparently); errors name `path`.
IdxImages read_idx_images(const std::string& path);
std::vector<uint8_t> read_idx_labels(const std::string& path);

// An images file and its labels file as one set (1 channel); checks counts match and labels < num_classes.
ImageSet read_idx_pair(const std::string& images_path, const std::string& labels_path, int num_classes,
                       const std::string& name);

// `dir`/`base`.gz if present, else `dir`/`base`; throws Error naming both when neither exists.
std::string find_idx_file(const std::string& dir, const std::string& base);

// The standard split files in `dir`: train-{images-idx3,labels-idx1}-ubyte or t10k-... (10 classes).
ImageSet load_idx_dir(const std::string& dir, bool train, const std::string& name);

}  // namespace nasc
