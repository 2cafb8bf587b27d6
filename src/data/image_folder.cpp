#include "data/image_folder.h"

#ifdef NASC_STB_IMPLEMENTATION  // only headers available: compile the decoder here (see CMakeLists.txt)
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#endif
#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "common/error.h"
#include "data/data_spec.h"
#include "data/random.h"

namespace nasc {
namespace fs = std::filesystem;
namespace {

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

bool hidden(const fs::path& p) { return p.filename().string().rfind('.', 0) == 0; }

// Class folders of `dir` in sorted order, each with its image files in sorted order (so that labels and the
// split are the same on every machine). `skip` names a folder that is not a class (test/).
std::map<std::string, std::vector<fs::path>> list_classes(const fs::path& dir, const std::string& skip) {
  std::map<std::string, std::vector<fs::path>> classes;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) fail(dir.string(), ": cannot list the image folder (", ec.message(), ")");
  for (const auto& e : it) {
    if (!e.is_directory() || hidden(e.path()) || e.path().filename() == skip) continue;
    std::vector<fs::path>& files = classes[e.path().filename().string()];
    for (const auto& f : fs::directory_iterator(e.path()))
      if (f.is_regular_file() && !hidden(f.path()) && is_image_file(f.path())) files.push_back(f.path());
    if (files.empty())
      fail(e.path().string(), ": class folder holds no image (expected *.png, *.jpg, *.jpeg or *.bmp files)");
    std::sort(files.begin(), files.end());
  }
  return classes;
}

std::vector<uint8_t> read_bytes(const fs::path& p, int64_t max_bytes) {
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  if (ec) fail(p.string(), ": cannot read the image (", ec.message(), ")");
  if (int64_t(size) > max_bytes) fail(p.string(), ": image file of ", size, " bytes exceeds the limit of ", max_bytes);
  std::vector<uint8_t> bytes(size);
  std::ifstream in(p, std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(size)))
    fail(p.string(), ": cannot read the image");
  return bytes;
}

struct Decoded {
  int channels = 0;  // 1 or 3
  int h = 0, w = 0;
  std::vector<uint8_t> hwc;
};

Decoded decode(const fs::path& p, const ImageFolderOptions& opt) {
  const std::vector<uint8_t> bytes = read_bytes(p, opt.max_file_bytes);
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(bytes.data(), int(bytes.size()), &w, &h, &comp))
    fail(p.string(), ": not a readable PNG, JPEG or BMP image (", stbi_failure_reason(), ")");
  if (int64_t(w) * h > opt.max_pixels)
    fail(p.string(), ": image of ", w, "x", h, " pixels exceeds the limit of ", opt.max_pixels, " pixels");
  Decoded d;
  d.channels = comp >= 3 ? 3 : 1;  // alpha is dropped
  std::unique_ptr<uint8_t, void (*)(void*)> px(
      stbi_load_from_memory(bytes.data(), int(bytes.size()), &d.w, &d.h, &comp, d.channels), stbi_image_free);
  if (!px) fail(p.string(), ": corrupt image (", stbi_failure_reason(), ")");
  d.hwc.assign(px.get(), px.get() + size_t(d.w) * d.h * d.channels);
  return d;
}

// The channels and size every image must have, fixed by the first one read.
struct Geometry {
  int c = 0, h = 0, w = 0;
  std::string first;
};

// Decodes, checks and appends one image (resized, channel-major) to `set`.
void append(ImageSet& set, const fs::path& p, int label, const ImageFolderOptions& opt, Geometry& g) {
  Decoded d = decode(p, opt);
  const int H = opt.height > 0 ? opt.height : d.h, W = opt.width > 0 ? opt.width : d.w;
  if (g.first.empty()) g = {d.channels, H, W, p.string()};
  if (d.channels != g.c)
    fail(p.string(), ": ", d.channels == 1 ? "grey" : "colour", " image, but ", g.first, " is ",
         g.c == 1 ? "grey" : "colour", ": expected one channel count in the whole folder");
  if (H != g.h || W != g.w)
    fail(p.string(), ": ", d.h, "x", d.w, " image, but ", g.first, " is ", g.h, "x", g.w,
         ": expected one size (or a space that fixes the size to resize to)");
  std::vector<uint8_t> hwc(size_t(H) * W * d.channels);
  if (H == d.h && W == d.w) {
    hwc = std::move(d.hwc);
  } else if (!stbir_resize_uint8(d.hwc.data(), d.w, d.h, 0, hwc.data(), W, H, 0, d.channels)) {
    fail(p.string(), ": cannot resize to ", H, "x", W);
  }
  const size_t base = set.pixels.size();
  set.pixels.resize(base + hwc.size());
  for (int c = 0; c < d.channels; ++c)
    for (int i = 0; i < H * W; ++i) set.pixels[base + size_t(c) * H * W + i] = hwc[size_t(i) * d.channels + c];
  set.labels.push_back(int16_t(label));
}

}  // namespace

TrainTest load_image_folder(const std::string& dir_text, const ImageFolderOptions& opt) {
  const fs::path dir(dir_text);
  if (!fs::is_directory(dir)) fail(dir_text, ": not a folder (expected DIR/<class>/*.png|*.jpg)");
  if ((opt.height > 0) != (opt.width > 0))
    fail("image folder resize ", opt.height, "x", opt.width, ": expected both > 0 or both 0");
  if (!(opt.test_fraction > 0 && opt.test_fraction < 1))
    fail("image folder test fraction ", opt.test_fraction, ": expected 0 < f < 1");
  const auto classes = list_classes(dir, "test");
  if (classes.empty()) fail(dir_text, ": no class folders (expected DIR/<class>/*.png|*.jpg)");
  if (classes.size() > 32767) fail(dir_text, ": ", classes.size(), " class folders: expected at most 32767");
  std::map<std::string, int> label;
  for (const auto& [name, files] : classes) label.emplace(name, int(label.size()));

  TrainTest tt;
  tt.train.name = tt.test.name = "folder";
  tt.train.num_classes = tt.test.num_classes = int(classes.size());
  Geometry g;
  const fs::path test_dir = dir / "test";
  if (fs::is_directory(test_dir)) {
    for (const auto& [name, files] : list_classes(test_dir, "")) {
      if (!label.count(name))
        fail((test_dir / name).string(), ": test class '", name, "' has no training folder ", (dir / name).string());
      for (const auto& f : files) append(tt.test, f, label.at(name), opt, g);
    }
    for (const auto& [name, files] : classes)
      for (const auto& f : files) append(tt.train, f, label.at(name), opt, g);
  } else {
    // Per class, so that every class with enough images is in both parts.
    for (const auto& [name, files] : classes) {
      std::vector<size_t> order(files.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      fisher_yates(order, mix_seed(opt.seed, fnv1a(name)));  // the same split on every machine
      const size_t n_test = size_t(double(files.size()) * opt.test_fraction + 0.5);
      std::vector<bool> is_test(files.size(), false);
      for (size_t i = 0; i < n_test; ++i) is_test[order[i]] = true;
      for (size_t i = 0; i < files.size(); ++i)
        append(is_test[i] ? tt.test : tt.train, files[i], label.at(name), opt, g);
    }
  }
  for (ImageSet* s : {&tt.train, &tt.test}) {
    s->c = g.c;
    s->h = g.h;
    s->w = g.w;
  }
  if (tt.train.size() == 0) fail(dir_text, ": no training images");
  if (tt.test.size() == 0) fail(dir_text, ": no test images (add DIR/test/<class>/ or more images per class)");
  return tt;
}

}  // namespace nasc
