// The training recipe shared by `nasc train` and the retraining of searched networks: SGD with Nesterov
// momentum, cosine learning-rate schedule, weight decay and optional label smoothing.
#pragma once
#include <cstdint>
#include <string>

#include "common/json_io.h"

namespace nasc {

struct TrainOptions {
  int epochs = 10;
  int batch_size = 128;
  double lr = 0.05;
  double momentum = 0.9;
  double weight_decay = 4e-5;
  double label_smoothing = 0.1;
  bool augment = true;
  int64_t train_limit = 0;  // a stratified subset of N training images (0 = all); for quick runs and tests
  int64_t test_limit = 0;   // likewise for the test set (the same images for every seed)
  uint64_t seed = 1;
  // Training as deployed: the activation sent at this split is fake-quantised (payload_encoding, with the
  // deployed rounding and a straight-through gradient) in every training and test pass, so the accuracy is the
  // one the device/server pair gets. -1: the network runs whole. In JSON only when set (older runs stay valid).
  int payload_split = -1;
  std::string payload_encoding = "int8";

  json to_json() const;
  static TrainOptions from_json(const json& j, const std::string& context);
  void validate() const;  // throws Error naming the bad option (the split against the space: Trainer)
};

// Cosine decay from lr to 0 over `total` steps, evaluated at step t (0-based).
double cosine_lr(double lr, int64_t t, int64_t total);

}  // namespace nasc
