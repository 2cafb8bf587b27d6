#include "train/recipe.h"

#include <cmath>

#include "common/error.h"
#include "space/space.h"

namespace nasc {

json TrainOptions::to_json() const {
  json j = {{"epochs", epochs},
          {"batch_size", batch_size},
          {"lr", lr},
          {"momentum", momentum},
          {"weight_decay", weight_decay},
          {"label_smoothing", label_smoothing},
          {"augment", augment},
          {"train_limit", train_limit},
          {"test_limit", test_limit},
          {"seed", seed}};
  if (payload_split >= 0) j["payload"] = {{"split", payload_split}, {"encoding", payload_encoding}};
  return j;
}

TrainOptions TrainOptions::from_json(const json& j, const std::string& ctx) {
  TrainOptions o;
  o.epochs = json_get_or(j, "epochs", o.epochs, ctx);
  o.batch_size = json_get_or(j, "batch_size", o.batch_size, ctx);
  o.lr = json_get_or(j, "lr", o.lr, ctx);
  o.momentum = json_get_or(j, "momentum", o.momentum, ctx);
  o.weight_decay = json_get_or(j, "weight_decay", o.weight_decay, ctx);
  o.label_smoothing = json_get_or(j, "label_smoothing", o.label_smoothing, ctx);
  o.augment = json_get_or(j, "augment", o.augment, ctx);
  o.train_limit = json_get_or(j, "train_limit", o.train_limit, ctx);
  o.test_limit = json_get_or(j, "test_limit", o.test_limit, ctx);
  o.seed = uint64_t(json_get_or<int64_t>(j, "seed", int64_t(o.seed), ctx));
  if (j.contains("payload")) {
    o.payload_split = json_get<int>(j.at("payload"), "split", ctx);
    o.payload_encoding = json_get<std::string>(j.at("payload"), "encoding", ctx);
  }
  o.validate();
  return o;
}

void TrainOptions::validate() const {
  if (epochs < 1 || epochs > 100000) fail("epochs = ", epochs, ": expected 1..100000");
  if (batch_size < 1 || batch_size > 65536) fail("batch size = ", batch_size, ": expected 1..65536");
  if (!(lr > 0) || !std::isfinite(lr)) fail("learning rate = ", lr, ": expected a positive number");
  if (momentum < 0 || momentum >= 1) fail("momentum = ", momentum, ": expected 0 <= m < 1");
  if (weight_decay < 0) fail("weight decay = ", weight_decay, ": expected >= 0");
  if (label_smoothing < 0 || label_smoothing >= 1) fail("label smoothing = ", label_smoothing, ": expected 0 <= e < 1");
  if (train_limit < 0 || test_limit < 0) fail("data limits must be >= 0 (0 = all)");
  if (payload_split < -1) fail("payload split = ", payload_split, ": expected -1 (none) or a block index >= 0");
  parse_encoding(payload_encoding);
}

double cosine_lr(double lr, int64_t t, int64_t total) {
  if (total <= 0) return lr;
  return 0.5 * lr * (1.0 + std::cos(M_PI * double(t) / double(total)));
}

}  // namespace nasc
