// Minibatches of an ImageSet as normalised float tensors, with shuffling and augmentation fixed by
// (seed, epoch) alone so that a resumed run sees exactly the batches of an uninterrupted one. The next batch
// is assembled on a background thread while the caller trains on the current one.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <future>
#include <memory>
#include <vector>

#include "data/image_set.h"
#include "data/normalizer.h"

namespace nasc {

struct LoaderOptions {
  int batch_size = 128;
  bool shuffle = false;
  bool augment = false;  // random crop with zero padding, and horizontal flip if hflip
  int pad = -1;          // crop padding in pixels; -1: 4 for images of 32 pixels or more, else 2
  bool hflip = true;     // only with augment
  bool drop_last = false;
  uint64_t seed = 0;
  bool prefetch = true;     // assemble the next batch on a background thread
  bool pin_memory = true;   // page-locked batches when CUDA is available (faster copies to the GPU)

  // Training defaults for a set: shuffle, augment (no flip for digits, whose mirror images are not digits),
  // drop the last partial batch.
  static LoaderOptions training(const ImageSet& set, int batch_size, uint64_t seed);
  // Evaluation: fixed order, no augmentation, every image.
  static LoaderOptions evaluation(int batch_size);
};

struct Batch {
  torch::Tensor x;  // float32 [B, C, H, W], normalised
  torch::Tensor y;  // int64 [B]
};

class BatchLoader {
 public:
  // `set` must outlive the loader; `indices` select (and may repeat) images of `set`.
  BatchLoader(const ImageSet& set, std::vector<int64_t> indices, LoaderOptions options, Normalizer norm);
  ~BatchLoader();
  BatchLoader(BatchLoader&&) = default;
  BatchLoader& operator=(BatchLoader&&) = default;

  // Starts epoch e at batch 0; its order and augmentation depend only on (options.seed, e).
  void set_epoch(int64_t epoch);
  // Continues the current epoch at batch b in [0, num_batches()]: the batches that follow equal those an
  // uninterrupted iteration would give.
  void skip_to(int64_t batch);
  // The next batch of the epoch; false once the epoch is over.
  bool next(Batch& out);

  int64_t num_batches() const;
  int64_t num_samples() const { return int64_t(indices_.size()); }
  int64_t epoch() const { return epoch_; }
  int64_t position() const { return cursor_; }  // index of the batch next() returns
  const LoaderOptions& options() const { return opts_; }

  // Everything needed to build any batch of one epoch; shared with the background thread, never mutated.
  struct Plan;

 private:
  void drop_pending();

  const ImageSet* set_;
  std::vector<int64_t> indices_;
  LoaderOptions opts_;
  Normalizer norm_;
  bool pinned_ = false;
  int64_t epoch_ = 0;
  int64_t cursor_ = 0;
  std::shared_ptr<const Plan> plan_;
  std::future<Batch> pending_;
  int64_t pending_batch_ = -1;
};

}  // namespace nasc
