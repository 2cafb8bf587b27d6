// Reader for the binary versions of CIFAR-10 (data_batch_{1..5}.bin, test_batch.bin) and CIFAR-100
// (train.bin, test.bin; the fine label is used): fixed-size records of label byte(s) + 3x32x32 pixels.
#pragma once
#include <string>

#include "data/image_set.h"

namespace nasc {

constexpr int kCifarPixels = 3 * 32 * 32;

// Appends every record of one file to `into` (whose c/h/w/num_classes must already be 3/32/32/classes).
// `label_bytes` per record precede the pixels; `label_index` picks the one used. The file size must be a
// whole number of records.
void read_cifar_file(const std::string& path, int label_bytes, int label_index, ImageSet& into);

// The train or test split of CIFAR-10 / CIFAR-100 in `dir` (or in the archive's folder inside it:
// cifar-10-batches-bin/, cifar-100-binary/); a missing file is an Error naming it.
ImageSet load_cifar10(const std::string& dir, bool train);
ImageSet load_cifar100(const std::string& dir, bool train);

}  // namespace nasc
