#include "train/trainer.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "common/error.h"
#include "common/json_io.h"
#include "nn/device.h"
#include "common/progress.h"
#include "nn/quantize.h"

namespace nasc {

namespace fs = std::filesystem;

json EpochRecord::to_json() const {
  return {{"epoch", epoch},         {"lr", lr},           {"train_loss", train_loss},
          {"train_acc", train_acc}, {"test_loss", test_loss}, {"test_acc", test_acc},
          {"seconds", seconds},     {"images_per_s", images_per_s}};
}

EpochRecord EpochRecord::from_json(const json& j) {
  EpochRecord r;
  r.epoch = j.at("epoch");
  r.lr = j.at("lr");
  r.train_loss = j.at("train_loss");
  r.train_acc = j.at("train_acc");
  r.test_loss = j.at("test_loss");
  r.test_acc = j.at("test_acc");
  r.seconds = j.at("seconds");
  r.images_per_s = j.at("images_per_s");
  return r;
}

std::string EpochRecord::csv_header() { return "epoch,lr,train_loss,train_acc,test_loss,test_acc,seconds,images_per_s"; }

std::string EpochRecord::csv_row() const {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%d,%.6g,%.6f,%.6f,%.6f,%.6f,%.3f,%.1f", epoch, lr, train_loss, train_acc, test_loss,
                test_acc, seconds, images_per_s);
  return buf;
}

torch::Tensor classification_loss(const torch::Tensor& logits, const torch::Tensor& labels, double smoothing) {
  namespace F = torch::nn::functional;
  return F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().label_smoothing(smoothing));
}

torch::Tensor count_correct(const torch::Tensor& logits, const torch::Tensor& labels) {
  return logits.argmax(1).eq(labels).sum();
}

EvalResult evaluate(const std::function<torch::Tensor(const torch::Tensor&)>& forward, BatchLoader& loader,
                    const torch::Device& device) {
  torch::NoGradGuard no_grad;
  loader.set_epoch(0);
  Batch b;
  auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  auto correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(device));
  int64_t n = 0;
  while (loader.next(b)) {
    auto x = b.x.to(device, /*non_blocking=*/true), y = b.y.to(device, /*non_blocking=*/true);
    auto logits = forward(x);
    loss_sum += torch::nn::functional::cross_entropy(
        logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    correct += count_correct(logits, y);
    n += x.size(0);
  }
  EvalResult r;
  r.count = n;
  if (n > 0) {
    r.loss = loss_sum.item<double>() / double(n);
    r.accuracy = double(correct.item<int64_t>()) / double(n);
  }
  return r;
}

Trainer::Trainer(const Space& space, Arch arch, TrainOptions options, torch::Device device)
    : space_(space), arch_(std::move(arch)), opt_(options), payload_encoding_(parse_encoding(opt_.payload_encoding)),
      device_(device) {
  opt_.validate();
  space_.check_arch(arch_);
  if (opt_.payload_split > space_.num_blocks())
    fail("payload split ", opt_.payload_split, " of space ", space_.name(), ": expected 0..", space_.num_blocks());
  torch::manual_seed(opt_.seed);
  net_ = Network(space_, arch_);
  to_device_layout(*net_, device_);
  sgd_ = std::make_unique<torch::optim::SGD>(
      net_->parameters(),
      torch::optim::SGDOptions(opt_.lr).momentum(opt_.momentum).nesterov(opt_.momentum > 0).weight_decay(opt_.weight_decay));
}

void Trainer::save_checkpoint(const std::string& dir, const std::vector<EpochRecord>& history, double seconds) {
  fs::path tmp = fs::path(dir) / "checkpoint.tmp", final_dir = fs::path(dir) / "checkpoint";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  torch::save(net_, (tmp / "model.pt").string());
  torch::save(*sgd_, (tmp / "optimizer.pt").string());
  json hist = json::array();
  for (auto& r : history) hist.push_back(r.to_json());
  json state = {{"epochs_done", history.size()},
                {"history", hist},
                {"seconds", seconds},
                {"arch", space_.format_arch(arch_)},
                {"options", opt_.to_json()}};
  write_json_atomic((tmp / "state.json").string(), state);
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
}

bool Trainer::load_checkpoint(const std::string& dir, std::vector<EpochRecord>& history, double& seconds) {
  fs::path cdir = fs::path(dir) / "checkpoint";
  if (!fs::exists(cdir / "state.json")) return false;
  json state = read_json_file((cdir / "state.json").string());
  std::string ctx = (cdir / "state.json").string();
  if (json_get<std::string>(state, "arch", ctx) != space_.format_arch(arch_))
    fail(ctx, ": checkpoint is for architecture ", state["arch"].get<std::string>(), ", not the one requested");
  json a = opt_.to_json(), b = state.at("options");
  a.erase("epochs");
  b.erase("epochs");
  if (a != b) fail(ctx, ": checkpoint was made with different training options (", b.dump(), ")");
  torch::load(net_, (cdir / "model.pt").string(), device_);
  to_device_layout(*net_, device_);  // a checkpoint's tensors come back in the layout they were saved in
  torch::load(*sgd_, (cdir / "optimizer.pt").string(), device_);
  history.clear();
  for (auto& r : state.at("history")) history.push_back(EpochRecord::from_json(r));
  seconds = json_get<double>(state, "seconds", ctx);
  return true;
}

void require_data_fits(const Space& space, const ImageSet& data, const std::string& what) {
  const auto& in = space.input_shape();
  if (data.c != in.c || data.h != in.h || data.w != in.w || data.num_classes != space.num_classes())
    fail("data ", what, " (", data.c, "x", data.h, "x", data.w, ", ", data.num_classes, " classes) does not fit space ",
         space.name(), ": expected ", in.c, "x", in.h, "x", in.w, " images in ", space.num_classes(), " classes");
}

torch::Tensor Trainer::forward(const torch::Tensor& x) {
  const int p = opt_.payload_split, B = space_.num_blocks();
  // Split 0 sends the raw image and split B nothing: both lossless, so the network runs whole.
  if (p <= 0 || p >= B) return net_->forward(x);
  torch::Tensor head = net_->forward_range(x, 0, p);
  return net_->forward_range(fake_quantize(head, payload_encoding_), p, B);
}

std::pair<EpochRecord, int64_t> Trainer::train_epoch(BatchLoader& loader, int epoch, int64_t total_steps,
                                                     Progress& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t steps = loader.num_batches();
  net_->train();
  loader.set_epoch(epoch);
  auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  auto correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(device_));
  int64_t seen = 0, step = 0;
  double lr = opt_.lr;
  Batch b;
  while (loader.next(b)) {
    lr = cosine_lr(opt_.lr, epoch * steps + step, total_steps);
    for (auto& g : sgd_->param_groups()) static_cast<torch::optim::SGDOptions&>(g.options()).lr(lr);
    auto x = b.x.to(device_, true), y = b.y.to(device_, true);
    sgd_->zero_grad();
    auto logits = forward(x);
    auto loss = classification_loss(logits, y, opt_.label_smoothing);
    loss.backward();
    sgd_->step();
    loss_sum += loss.detach() * x.size(0);
    correct += count_correct(logits.detach(), y);
    seen += x.size(0);
    ++step;
    if (progress.due()) {  // reading the running sums synchronises with the device: only when printing
      double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      progress.update(step, steps, cat("steps | loss ", loss_sum.item<double>() / seen, " acc ",
                                       double(correct.item<int64_t>()) / seen, " | ", int(seen / el), " img/s"));
    }
  }
  EpochRecord r;
  r.epoch = epoch + 1;
  r.lr = lr;
  r.train_loss = seen ? loss_sum.item<double>() / seen : 0;
  r.train_acc = seen ? double(correct.item<int64_t>()) / seen : 0;
  return {r, seen};
}

TrainResult Trainer::run(const TrainTest& data, const std::string& out_dir, bool resume,
                         const std::function<bool(const EpochRecord&)>& after_epoch) {
  require_data_fits(space_, data.train, data.train.name);
  auto train_idx = stratified_subset(data.train, opt_.train_limit, kLimitSeed);
  auto test_idx = stratified_subset(data.test, opt_.test_limit, kLimitSeed);
  norm_ = Normalizer::fit(data.train, train_idx);
  LoaderOptions lo = LoaderOptions::training(data.train, opt_.batch_size, opt_.seed);
  lo.augment = opt_.augment;
  lo.drop_last = int64_t(train_idx.size()) >= opt_.batch_size;
  BatchLoader train_loader(data.train, train_idx, lo, norm_);
  BatchLoader test_loader(data.test, test_idx, LoaderOptions::evaluation(256), norm_);

  TrainResult result;
  double seconds_before = 0;
  if (resume && !out_dir.empty() && load_checkpoint(out_dir, result.history, seconds_before))
    std::fprintf(stderr, "resuming from %s/checkpoint after epoch %zu\n", out_dir.c_str(), result.history.size());

  const int64_t total_steps = train_loader.num_batches() * opt_.epochs;
  for (int epoch = int(result.history.size()); epoch < opt_.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    Progress progress(cat("epoch ", epoch + 1, "/", opt_.epochs));
    auto [r, seen] = train_epoch(train_loader, epoch, total_steps, progress);
    net_->eval();
    EvalResult test = evaluate([&](const torch::Tensor& x) { return forward(x); }, test_loader, device_);
    r.test_loss = test.loss;
    r.test_acc = test.accuracy;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.images_per_s = seen / r.seconds;
    result.history.push_back(r);
    progress.finish(cat("epoch ", r.epoch, "/", opt_.epochs, ": train loss ", r.train_loss, " acc ", r.train_acc,
                        " | test loss ", r.test_loss, " acc ", r.test_acc, " | ", int(r.images_per_s), " img/s, ",
                        Progress::format_seconds(r.seconds)));
    if (!out_dir.empty()) {
      save_checkpoint(out_dir, result.history, seconds_before + r.seconds);
      seconds_before += r.seconds;
    }
    if (after_epoch && !after_epoch(r)) break;
  }
  result.test_accuracy = result.history.empty() ? 0 : result.history.back().test_acc;
  for (auto& h : result.history) result.seconds += h.seconds;
  if (!out_dir.empty()) {
    std::string tmp = out_dir + "/model.pt.tmp";
    torch::save(net_, tmp);
    fs::rename(tmp, out_dir + "/model.pt");
  }
  return result;
}

json training_record(const Trainer& trainer, const TrainResult& r, const DataSpec& data, const torch::Device& device,
                     const std::string& out_dir) {
  std::string csv = EpochRecord::csv_header() + "\n";
  json history = json::array();
  for (const auto& h : r.history) {
    csv += h.csv_row() + "\n";
    history.push_back(h.to_json());
  }
  write_text_atomic((std::filesystem::path(out_dir) / "epochs.csv").string(), csv);
  return {{"space", trainer.space().config().to_json()},
          {"arch", trainer.space().format_arch(trainer.arch())},
          {"data", data.to_string()},
          {"options", trainer.options().to_json()},
          {"seed", trainer.options().seed},
          {"device", device_description(device)},
          {"parameters", count_parameters(*trainer.network())},
          {"test_accuracy", r.test_accuracy},
          {"history", history},
          {"timings", {{"train_seconds", r.seconds}}},
          {"normalizer", trainer.normalizer().to_json()},
          {"weights", "model.pt"},
          {"versions", library_versions()}};
}

}  // namespace nasc
