// Trains one stand-alone network with the standard recipe, scores it on the test set every epoch, and keeps
// per-epoch checkpoints in the run directory so that `--resume` continues bit-identically (on CPU).
#pragma once
#include <torch/torch.h>

#include <functional>

#include "data/batch_loader.h"
#include "data/data_spec.h"
#include "common/progress.h"
#include "nn/network.h"
#include "train/recipe.h"

namespace nasc {

struct EpochRecord {
  int epoch = 0;  // 1-based
  double lr = 0;  // at the end of the epoch
  double train_loss = 0, train_acc = 0, test_loss = 0, test_acc = 0;
  double seconds = 0, images_per_s = 0;
  json to_json() const;
  static EpochRecord from_json(const json& j);
  static std::string csv_header();
  std::string csv_row() const;
};

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t count = 0;
};

// Mean cross-entropy and accuracy of `forward` over every batch of `loader` (no gradients; mode is the caller's).
EvalResult evaluate(const std::function<torch::Tensor(const torch::Tensor&)>& forward, BatchLoader& loader,
                    const torch::Device& device);

// Counts correct predictions on the device, without a host synchronisation.
torch::Tensor count_correct(const torch::Tensor& logits, const torch::Tensor& labels);

struct TrainResult {
  std::vector<EpochRecord> history;
  double test_accuracy = 0;
  double seconds = 0;
};

class Trainer {
 public:
  Trainer(const Space& space, Arch arch, TrainOptions options, torch::Device device);

  // Trains on data.train and scores on data.test. With a non-empty out_dir, writes a checkpoint after every
  // epoch (and model.pt at the end); with resume, first continues from the checkpoint found there.
  // `after_epoch` (optional) sees each finished epoch; returning false stops the run there, as an interruption would.
  TrainResult run(const TrainTest& data, const std::string& out_dir, bool resume,
                  const std::function<bool(const EpochRecord&)>& after_epoch = nullptr);

  Network network() const { return net_; }
  const Normalizer& normalizer() const { return norm_; }
  const Space& space() const { return space_; }
  const Arch& arch() const { return arch_; }
  const TrainOptions& options() const { return opt_; }

  // The network as deployed: whole, or with the payload at options().payload_split fake-quantised.
  torch::Tensor forward(const torch::Tensor& x);

 private:
  // One pass over the training batches: the epoch's record without its test scores and times, and the images seen.
  std::pair<EpochRecord, int64_t> train_epoch(BatchLoader& loader, int epoch, int64_t total_steps, Progress& progress);
  void save_checkpoint(const std::string& dir, const std::vector<EpochRecord>& history, double seconds);
  bool load_checkpoint(const std::string& dir, std::vector<EpochRecord>& history, double& seconds);

  Space space_;
  Arch arch_;
  TrainOptions opt_;
  Encoding payload_encoding_;  // opt_.payload_encoding, parsed once
  torch::Device device_;
  Network net_{nullptr};
  std::unique_ptr<torch::optim::SGD> sgd_;
  Normalizer norm_;
};

// Throws Error naming the data set and the space unless its images and classes are the space's input and output.
void require_data_fits(const Space& space, const ImageSet& data, const std::string& what);

// Loss of the recipe: cross-entropy with the given label smoothing.
torch::Tensor classification_loss(const torch::Tensor& logits, const torch::Tensor& labels, double smoothing);

// What a finished run leaves beside model.pt, the same for `nasc train` and `nasc experiment` so that `nasc export`
// reads either: writes out_dir/epochs.csv and returns the body of result.json (space, architecture, data, recipe,
// seed, device, parameters, test accuracy, history, normaliser, weights, library versions); callers add their own
// fields and write it.
json training_record(const Trainer& trainer, const TrainResult& r, const DataSpec& data, const torch::Device& device,
                     const std::string& out_dir);

}  // namespace nasc
