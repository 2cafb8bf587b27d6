// Users' own pictures in the ImageFolder layouts: DIR/train/<class>/ beside DIR/test/<class>/ (or DIR/val/), or
// DIR/<class>/*.png|*.jpg|*.jpeg|*.bmp with an optional DIR/test/<class>/ (else a seeded split of each class);
// classes in sorted order, decoded on all cores with Debian's stb_image and resized to the size the space expects.
#pragma once
#include <cstdint>
#include <string>

#include "data/data_spec.h"

namespace nasc {

struct ImageFolderOptions {
  int height = 0, width = 0;    // every image resized to this (0 x 0: keep sizes, which must then all agree)
  double test_fraction = 0.2;   // of each class, without DIR/test/
  uint64_t seed = 0;            // of that split
  int64_t max_file_bytes = int64_t(64) << 20;
  int64_t max_pixels = int64_t(1) << 26;  // per image, checked from its header before it is decoded
};

// The train and test sets. Throws Error with one line naming the file or folder and the problem: an unreadable or
// corrupt image, an image over the limits, an empty class, channel counts that differ (grey, grey+alpha count as
// 1, RGB and RGBA as 3: alpha is dropped), a test class the training part lacks, no classes at all.
TrainTest load_image_folder(const std::string& dir, const ImageFolderOptions& opt);

}  // namespace nasc
