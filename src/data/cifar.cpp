#include "data/cifar.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "common/error.h"

namespace nasc {
namespace {

constexpr int64_t kCifarMaxRecords = 10'000'000;

ImageSet empty_cifar(const std::string& name, int num_classes) {
  ImageSet s;
  s.name = name;
  s.c = 3;
  s.h = 32;
  s.w = 32;
  s.num_classes = num_classes;
  return s;
}

// The archives unpack into a folder of their own; accept the data directory or its parent.
std::string resolve_dir(const std::string& dir, const std::string& probe, const std::string& archive_folder) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(fs::path(dir) / probe, ec) && fs::exists(fs::path(dir) / archive_folder / probe, ec))
    return (fs::path(dir) / archive_folder).string();
  return dir;
}

}  // namespace

void read_cifar_file(const std::string& path, int label_bytes, int label_index, ImageSet& into) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) fail("missing data file ", path, " (expected a CIFAR binary file)");
  const int64_t record = label_bytes + kCifarPixels;
  const auto size = int64_t(fs::file_size(path, ec));
  if (ec) fail("cannot read the size of ", path, ": ", ec.message());
  if (size == 0 || size % record != 0)
    fail(path, ": size ", size, " is not a multiple of the ", record, "-byte CIFAR record (", label_bytes,
         " label byte(s) + ", kCifarPixels, " pixels)");
  const int64_t n = size / record;
  if (into.size() + n > kCifarMaxRecords)
    fail(path, ": ", into.size() + n, " images in all (expected at most ", kCifarMaxRecords, ")");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open ", path, ": expected a readable CIFAR binary file");

  const int64_t first = into.size();
  into.pixels.resize(size_t((first + n) * kCifarPixels));
  into.labels.resize(size_t(first + n));
  constexpr int64_t kChunk = 1024;  // records per read
  std::vector<char> buf(size_t(kChunk * record));
  for (int64_t done = 0; done < n;) {
    const int64_t k = std::min(kChunk, n - done);
    if (!in.read(buf.data(), std::streamsize(k * record)))
      fail(path, ": truncated while reading record ", done, " of ", n, " (did the file change?)");
    for (int64_t r = 0; r < k; ++r) {
      const auto* rec = reinterpret_cast<const uint8_t*>(buf.data()) + r * record;
      const int label = rec[label_index];
      const int64_t i = first + done + r;
      if (label >= into.num_classes)
        fail(path, ": label ", label, " in record ", done + r, " out of range (expected 0 to ", into.num_classes - 1,
             ")");
      into.labels[size_t(i)] = int16_t(label);
      std::copy(rec + label_bytes, rec + record, into.pixels.begin() + i * kCifarPixels);
    }
    done += k;
  }
}

ImageSet load_cifar10(const std::string& dir_in, bool train) {
  const std::string dir = resolve_dir(dir_in, "test_batch.bin", "cifar-10-batches-bin");
  ImageSet set = empty_cifar("cifar10", 10);
  std::vector<std::string> files;
  if (train)
    for (int b = 1; b <= 5; ++b) files.push_back("data_batch_" + std::to_string(b) + ".bin");
  else
    files.push_back("test_batch.bin");
  for (const auto& f : files)
    read_cifar_file((std::filesystem::path(dir) / f).string(), /*label_bytes=*/1, /*label_index=*/0, set);
  return set;
}

ImageSet load_cifar100(const std::string& dir_in, bool train) {
  const std::string dir = resolve_dir(dir_in, "test.bin", "cifar-100-binary");
  ImageSet set = empty_cifar("cifar100", 100);
  // Each record is coarse label, fine label, pixels; the 100-class task uses the fine one.
  read_cifar_file((std::filesystem::path(dir) / (train ? "train.bin" : "test.bin")).string(),
                  /*label_bytes=*/2, /*label_index=*/1, set);
  return set;
}

}  // namespace nasc
