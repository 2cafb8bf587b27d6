#include "data/image_folder.h"

#ifdef NASC_STB_IMPLEMENTATION  // only headers available: compile the decoder here (see CMakeLists.txt)
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#endif
#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <thread>

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

// One image to read: its file, label and which part it belongs to; `image` is its decoded, resized HWC form.
struct Job {
  fs::path file;
  int label = 0;
  bool test = false;
  Decoded image;
};

// Decodes and resizes every job on all cores (60,000 small JPEGs take minutes on one). On failure, throws the
// error of the first failing job in list order, so the message does not depend on thread timing.
void decode_all(std::vector<Job>& jobs, const ImageFolderOptions& opt) {
  std::vector<std::string> errors(jobs.size());
  std::atomic<size_t> next{0}, first_failed{jobs.size()};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < jobs.size();) {
      if (i > first_failed.load()) continue;
      try {
        Decoded d = decode(jobs[i].file, opt);
        const int H = opt.height > 0 ? opt.height : d.h, W = opt.width > 0 ? opt.width : d.w;
        if (H != d.h || W != d.w) {
          std::vector<uint8_t> resized(size_t(H) * W * d.channels);
          if (!stbir_resize_uint8(d.hwc.data(), d.w, d.h, 0, resized.data(), W, H, 0, d.channels))
            fail(jobs[i].file.string(), ": cannot resize to ", H, "x", W);
          d.hwc = std::move(resized);
          d.h = H;
          d.w = W;
        }
        jobs[i].image = std::move(d);
      } catch (const Error& e) {
        errors[i] = e.what();
        for (size_t f = first_failed.load(); i < f && !first_failed.compare_exchange_weak(f, i);) {
        }
      }
    }
  };
  const unsigned n = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < n; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (first_failed.load() < jobs.size()) throw Error(errors[first_failed.load()]);
}

// The channels and size every image must have, fixed by the first one read.
struct Geometry {
  int c = 0, h = 0, w = 0;
  std::string first;
};

// Checks and appends one decoded image (channel-major) to `set`, releasing its decoded copy.
void append(ImageSet& set, Job& job, Geometry& g) {
  Decoded& d = job.image;
  const std::string p = job.file.string();
  if (g.first.empty()) g = {d.channels, d.h, d.w, p};
  if (d.channels != g.c)
    fail(p, ": ", d.channels == 1 ? "grey" : "colour", " image, but ", g.first, " is ",
         g.c == 1 ? "grey" : "colour", ": expected one channel count in the whole folder");
  if (d.h != g.h || d.w != g.w)
    fail(p, ": ", d.h, "x", d.w, " image, but ", g.first, " is ", g.h, "x", g.w,
         ": expected one size (or a space that fixes the size to resize to)");
  const int H = d.h, W = d.w;
  const size_t base = set.pixels.size();
  set.pixels.resize(base + d.hwc.size());
  for (int c = 0; c < d.channels; ++c)
    for (int i = 0; i < H * W; ++i) set.pixels[base + size_t(c) * H * W + i] = d.hwc[size_t(i) * d.channels + c];
  set.labels.push_back(int16_t(job.label));
  d.hwc = {};
}

}  // namespace

TrainTest load_image_folder(const std::string& dir_text, const ImageFolderOptions& opt) {
  const fs::path dir(dir_text);
  if (!fs::is_directory(dir))
    fail(dir_text, ": not a folder (expected DIR/<class>/*.png|*.jpg or DIR/train/<class>/ beside DIR/test/<class>/)");
  if ((opt.height > 0) != (opt.width > 0))
    fail("image folder resize ", opt.height, "x", opt.width, ": expected both > 0 or both 0");
  if (!(opt.test_fraction > 0 && opt.test_fraction < 1))
    fail("image folder test fraction ", opt.test_fraction, ": expected 0 < f < 1");
  // Two layouts: DIR/train/<class>/ with DIR/test/<class>/ (or DIR/val/<class>/), the usual ImageFolder pair of
  // CIFAR-10 and ImageNet exports; or the classes at the top, DIR/<class>/, with an optional DIR/test/<class>/.
  const bool split_layout = fs::is_directory(dir / "train");
  const fs::path train_dir = split_layout ? dir / "train" : dir;
  fs::path test_dir = dir / "test";
  if (split_layout && !fs::is_directory(test_dir) && fs::is_directory(dir / "val")) test_dir = dir / "val";
  const auto classes = list_classes(train_dir, split_layout ? "" : "test");
  if (classes.empty())
    fail(train_dir.string(), ": no class folders (expected ", train_dir.string(), "/<class>/*.png|*.jpg)");
  if (classes.size() > 32767) fail(dir_text, ": ", classes.size(), " class folders: expected at most 32767");
  std::map<std::string, int> label;
  for (const auto& [name, files] : classes) label.emplace(name, int(label.size()));

  std::vector<Job> jobs;
  if (fs::is_directory(test_dir)) {
    for (const auto& [name, files] : list_classes(test_dir, "")) {
      if (!label.count(name))
        fail((test_dir / name).string(), ": test class '", name, "' has no training folder ",
             (train_dir / name).string());
      for (const auto& f : files) jobs.push_back({f, label.at(name), true, {}});
    }
    for (const auto& [name, files] : classes)
      for (const auto& f : files) jobs.push_back({f, label.at(name), false, {}});
  } else {
    // Per class, so that every class with enough images is in both parts.
    for (const auto& [name, files] : classes) {
      std::vector<size_t> order(files.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      fisher_yates(order, mix_seed(opt.seed, fnv1a(name)));  // the same split on every machine
      const size_t n_test = size_t(double(files.size()) * opt.test_fraction + 0.5);
      std::vector<bool> is_test(files.size(), false);
      for (size_t i = 0; i < n_test; ++i) is_test[order[i]] = true;
      for (size_t i = 0; i < files.size(); ++i) jobs.push_back({files[i], label.at(name), bool(is_test[i]), {}});
    }
  }
  decode_all(jobs, opt);

  TrainTest tt;
  tt.train.name = tt.test.name = "folder";
  tt.train.num_classes = tt.test.num_classes = int(classes.size());
  Geometry g;
  for (Job& job : jobs) append(job.test ? tt.test : tt.train, job, g);
  for (ImageSet* s : {&tt.train, &tt.test}) {
    s->c = g.c;
    s->h = g.h;
    s->w = g.w;
  }
  if (tt.train.size() == 0) fail(dir_text, ": no training images");
  if (tt.test.size() == 0)
    fail(dir_text, ": no test images (add ", test_dir.string(), "/<class>/ or more images per class)");
  return tt;
}

}  // namespace nasc
