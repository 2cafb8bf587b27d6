#include "data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "common/error.h"

namespace nasc {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned byte data, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned byte data, 1 dimension

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

// A gzip (or plain) file read sequentially; a zlib error becomes an Error naming the file.
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) fail("cannot open ", path, ": no such file (expected an IDX file)");
    f_ = gzopen(path.c_str(), "rb");
    if (!f_) fail("cannot open ", path, ": expected a readable IDX file");
    gzbuffer(f_, 1 << 20);
  }
  ~GzReader() { gzclose(f_); }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to n bytes; fewer only at the end of the data.
  int64_t read(uint8_t* dst, int64_t n) {
    int64_t total = 0;
    while (total < n) {
      const auto want = unsigned(std::min<int64_t>(n - total, int64_t(1) << 30));
      const int got = gzread(f_, dst + total, want);
      if (got < 0) {
        int errnum = 0;
        fail(path_, ": corrupt gzip data (zlib: ", gzerror(f_, &errnum), ")");
      }
      if (got == 0) break;
      total += got;
    }
    return total;
  }

  // Reads up to n bytes, growing the buffer with the data actually present, so a header that lies about
  // its size cannot make us allocate more than the file really holds.
  std::vector<uint8_t> read_up_to(int64_t n) {
    std::vector<uint8_t> out;
    out.reserve(size_t(std::min<int64_t>(n, int64_t(64) << 20)));
    while (int64_t(out.size()) < n) {
      const int64_t chunk = std::min<int64_t>(n - int64_t(out.size()), int64_t(16) << 20);
      const size_t old = out.size();
      out.resize(old + size_t(chunk));
      const int64_t got = read(out.data() + old, chunk);
      out.resize(old + size_t(got));
      if (got < chunk) break;
    }
    return out;
  }

  bool at_end() {
    uint8_t extra;
    return read(&extra, 1) == 0;
  }

 private:
  std::string path_;
  gzFile f_ = nullptr;
};

uint32_t read_magic(GzReader& f, uint8_t* header, int64_t header_size, const std::string& path,
                    uint32_t expected, const char* what) {
  const int64_t got = f.read(header, header_size);
  if (got < 4) fail(path, ": too short for an IDX header (", got, " bytes; expected an IDX ", what, " file)");
  const uint32_t magic = be32(header);
  if (magic != expected)
    fail(path, ": bad magic ", hex32(magic), " (expected ", hex32(expected), " for IDX ", what, ")");
  if (got < header_size) fail(path, ": truncated header (", got, " of ", header_size, " bytes)");
  return magic;
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  GzReader f(path);
  uint8_t header[16];
  read_magic(f, header, 16, path, kImagesMagic, "images");
  IdxImages out;
  const uint32_t n = be32(header + 4), rows = be32(header + 8), cols = be32(header + 12);
  if (n == 0 || n > kIdxMaxItems)
    fail(path, ": header declares ", n, " images (expected 1 to ", kIdxMaxItems, ")");
  if (rows == 0 || cols == 0 || rows > uint32_t(kIdxMaxSide) || cols > uint32_t(kIdxMaxSide))
    fail(path, ": header declares images of ", rows, "x", cols, " (expected 1 to ", kIdxMaxSide, " on each side)");
  const int64_t total = int64_t(n) * rows * cols;
  if (total > kIdxMaxPixelBytes)
    fail(path, ": header declares ", n, " images of ", rows, "x", cols, " = ", total,
         " bytes (expected at most ", kIdxMaxPixelBytes, ")");
  out.count = n;
  out.rows = int(rows);
  out.cols = int(cols);
  out.pixels = f.read_up_to(total);
  if (int64_t(out.pixels.size()) < total)
    fail(path, ": truncated: header declares ", n, " images of ", rows, "x", cols, " but only ", out.pixels.size(),
         " bytes of data (expected ", total, ")");
  if (!f.at_end())
    fail(path, ": trailing data after the ", n, " images of ", rows, "x", cols, " the header declares");
  return out;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  GzReader f(path);
  uint8_t header[8];
  read_magic(f, header, 8, path, kLabelsMagic, "labels");
  const uint32_t n = be32(header + 4);
  if (n == 0 || n > kIdxMaxItems)
    fail(path, ": header declares ", n, " labels (expected 1 to ", kIdxMaxItems, ")");
  std::vector<uint8_t> labels = f.read_up_to(n);
  if (labels.size() < n)
    fail(path, ": truncated: header declares ", n, " labels but only ", labels.size(), " bytes of data");
  if (!f.at_end()) fail(path, ": trailing data after the ", n, " labels the header declares");
  return labels;
}

ImageSet read_idx_pair(const std::string& images_path, const std::string& labels_path, int num_classes,
                       const std::string& name) {
  IdxImages images = read_idx_images(images_path);
  std::vector<uint8_t> labels = read_idx_labels(labels_path);
  if (int64_t(labels.size()) != images.count)
    fail(images_path, " has ", images.count, " images but ", labels_path, " has ", labels.size(), " labels");
  ImageSet set;
  set.name = name;
  set.c = 1;
  set.h = images.rows;
  set.w = images.cols;
  set.num_classes = num_classes;
  set.pixels = std::move(images.pixels);
  set.labels.resize(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= num_classes)
      fail(labels_path, ": label ", int(labels[i]), " at index ", i, " out of range (expected 0 to ",
           num_classes - 1, ")");
    set.labels[i] = labels[i];
  }
  return set;
}

std::string find_idx_file(const std::string& dir, const std::string& base) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string gz = (fs::path(dir) / (base + ".gz")).string();
  if (fs::is_regular_file(gz, ec)) return gz;
  const std::string plain = (fs::path(dir) / base).string();
  if (fs::is_regular_file(plain, ec)) return plain;
  fail("missing data file ", gz, " (expected it, or ", plain, " uncompressed)");
}

ImageSet load_idx_dir(const std::string& dir, bool train, const std::string& name) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string images = find_idx_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels = find_idx_file(dir, prefix + "-labels-idx1-ubyte");
  return read_idx_pair(images, labels, /*num_classes=*/10, name);
}

}  // namespace nasc
