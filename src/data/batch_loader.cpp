#include "data/batch_loader.h"

#include <torch/cuda.h>

#include <algorithm>

#include "common/error.h"
#include "data/random.h"

namespace nasc {

struct BatchLoader::Plan {
  const ImageSet* set;
  std::vector<int64_t> order;  // image indices in this epoch's order
  LoaderOptions opts;
  int pad;
  uint64_t epoch_seed;
  std::vector<float> scale, offset;
  bool pinned;
};

namespace {

// Builds batch b of an epoch. A pure function of the plan and b, so prefetching cannot change results.
Batch make_batch(const std::shared_ptr<const BatchLoader::Plan>& plan, int64_t b) {
  const ImageSet& set = *plan->set;
  const auto n = int64_t(plan->order.size());
  const int64_t begin = b * plan->opts.batch_size;
  const int64_t count = std::min<int64_t>(plan->opts.batch_size, n - begin);
  const int C = set.c, H = set.h, W = set.w;
  auto x_opts = torch::TensorOptions().dtype(torch::kFloat32).pinned_memory(plan->pinned);
  Batch batch{torch::empty({count, C, H, W}, x_opts),
              torch::empty({count}, torch::TensorOptions().dtype(torch::kInt64).pinned_memory(plan->pinned))};
  float* x = batch.x.data_ptr<float>();
  int64_t* y = batch.y.data_ptr<int64_t>();
  const int64_t plane = int64_t(H) * W;

  for (int64_t k = 0; k < count; ++k) {
    const int64_t pos = begin + k;
    const int64_t idx = plan->order[size_t(pos)];
    const uint8_t* src = set.image(idx);
    float* dst = x + k * C * plane;
    y[k] = set.labels[size_t(idx)];
    int dy = 0, dx = 0;
    bool flip = false;
    if (plan->opts.augment) {
      // Seeded per position in the epoch, so each sample's augmentation is independent of batching.
      SplitMix64 gen{mix_seed(plan->epoch_seed, uint64_t(pos))};
      const auto span = uint64_t(2 * plan->pad + 1);
      dy = int(uniform_below(gen, span)) - plan->pad;
      dx = int(uniform_below(gen, span)) - plan->pad;
      flip = plan->opts.hflip && (gen() & 1);
    }
    for (int c = 0; c < C; ++c) {
      const float a = plan->scale[size_t(c)], off = plan->offset[size_t(c)];
      const uint8_t* s = src + c * plane;
      float* d = dst + c * plane;
      if (dy == 0 && dx == 0 && !flip) {
        for (int64_t p = 0; p < plane; ++p) d[p] = float(s[p]) * a + off;
        continue;
      }
      // Crop of the zero-padded image: output (r, q) reads input (r + dy, q' + dx), with q' mirrored when
      // flipping; outside the image the pixel is 0, i.e. `off` after normalisation.
      for (int r = 0; r < H; ++r) {
        const int sr = r + dy;
        float* drow = d + int64_t(r) * W;
        if (sr < 0 || sr >= H) {
          std::fill(drow, drow + W, off);
          continue;
        }
        const uint8_t* srow = s + int64_t(sr) * W;
        for (int q = 0; q < W; ++q) {
          const int sq = (flip ? W - 1 - q : q) + dx;
          drow[q] = (sq < 0 || sq >= W) ? off : float(srow[sq]) * a + off;
        }
      }
    }
  }
  return batch;
}

}  // namespace

LoaderOptions LoaderOptions::training(const ImageSet& set, int batch_size, uint64_t seed) {
  LoaderOptions o;
  o.batch_size = batch_size;
  o.shuffle = true;
  o.augment = true;
  o.hflip = set.name != "mnist";
  o.drop_last = true;
  o.seed = seed;
  return o;
}

LoaderOptions LoaderOptions::evaluation(int batch_size) {
  LoaderOptions o;
  o.batch_size = batch_size;
  return o;
}

BatchLoader::BatchLoader(const ImageSet& set, std::vector<int64_t> indices, LoaderOptions options,
                         Normalizer norm)
    : set_(&set), indices_(std::move(indices)), opts_(options), norm_(std::move(norm)) {
  if (opts_.batch_size < 1) fail("batch size ", opts_.batch_size, " out of range (expected at least 1)");
  if (norm_.channels() != set.c || norm_.std.size() != norm_.mean.size())
    fail("normalisation has ", norm_.channels(), " channels but data set ", set.name, " has ", set.c);
  for (int64_t i : indices_)
    if (i < 0 || i >= set.size())
      fail("loader for ", set.name, ": index ", i, " out of range (expected 0..", set.size() - 1, ")");
  if (opts_.pad < 0) opts_.pad = std::min(set.h, set.w) >= 32 ? 4 : 2;
  if (opts_.pad > std::max(set.h, set.w))
    fail("crop padding ", opts_.pad, " out of range (expected 0 to ", std::max(set.h, set.w), " for ", set.name, ")");
  pinned_ = opts_.pin_memory && torch::cuda::is_available();
  set_epoch(0);
}

BatchLoader::~BatchLoader() { drop_pending(); }

void BatchLoader::drop_pending() {
  if (pending_.valid()) pending_.wait();
  pending_ = {};
  pending_batch_ = -1;
}

void BatchLoader::set_epoch(int64_t epoch) {
  drop_pending();
  auto plan = std::make_shared<Plan>();
  plan->set = set_;
  plan->order = indices_;
  plan->opts = opts_;
  plan->pad = opts_.pad;
  const uint64_t epoch_seed = mix_seed(opts_.seed, uint64_t(epoch));
  plan->epoch_seed = mix_seed(epoch_seed, 0x617567ULL);  // augmentation stream apart from the order's
  if (opts_.shuffle) fisher_yates(plan->order, epoch_seed);
  plan->scale = norm_.scale();
  plan->offset = norm_.offset();
  plan->pinned = pinned_;
  plan_ = std::move(plan);
  epoch_ = epoch;
  cursor_ = 0;
}

void BatchLoader::skip_to(int64_t batch) {
  if (batch < 0 || batch > num_batches())
    fail("cannot resume at batch ", batch, " (expected 0 to ", num_batches(), " for this epoch)");
  if (batch != pending_batch_) drop_pending();
  cursor_ = batch;
}

int64_t BatchLoader::num_batches() const {
  const int64_t n = num_samples(), bs = opts_.batch_size;
  return opts_.drop_last ? n / bs : (n + bs - 1) / bs;
}

bool BatchLoader::next(Batch& out) {
  if (cursor_ >= num_batches()) return false;
  if (pending_.valid() && pending_batch_ == cursor_) {
    out = pending_.get();
    pending_batch_ = -1;
  } else {
    drop_pending();
    out = make_batch(plan_, cursor_);
  }
  ++cursor_;
  if (opts_.prefetch && cursor_ < num_batches()) {
    pending_batch_ = cursor_;
    pending_ = std::async(std::launch::async, make_batch, plan_, cursor_);
  }
  return true;
}

}  // namespace nasc
