// nasc train: trains one stand-alone network of a space from scratch and scores it on the test set.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "command.h"
#include "common/error.h"
#include "data/data_spec.h"
#include "nn/device.h"
#include "train/trainer.h"

namespace {

struct TrainArgs {
  std::string space = "fmnist";
  std::string arch;
  std::string data = "fmnist";
  std::string out;  // default runs/train, or <search dir>/retrain with --from
  std::string from;  // a search.json whose architecture to retrain
  std::string device = "auto";
  int threads = 0;
  bool resume = false;
  bool float_payload = false;
  nasc::TrainOptions opt;
};

int run_train(TrainArgs args) {
  using namespace nasc;
  namespace fs = std::filesystem;
  json found;
  if (!args.from.empty()) {
    found = read_json_file(args.from);
    if (!args.arch.empty()) fail("--from and --arch both name an architecture: give one");
    args.arch = json_get<std::string>(found, "arch", args.from);
    if (found.contains("data")) args.data = json_get<std::string>(found, "data", args.from);
    if (args.out.empty()) args.out = (fs::path(args.from).parent_path() / "retrain").string();
    // Retrained as it will be deployed: the payload at the search's split, in its encoding.
    if (!args.float_payload && args.opt.payload_split < 0) {
      args.opt.payload_split = json_get<int>(found, "split", args.from);
      args.opt.payload_encoding = json_get_or<std::string>(found, "encoding", args.opt.payload_encoding, args.from);
    }
  }
  if (args.float_payload) args.opt.payload_split = -1;
  if (args.out.empty()) args.out = "runs/train";
  Space space(found.contains("space") ? SpaceConfig::from_json(found["space"], args.from)
                                      : SpaceConfig::load(args.space));
  Arch arch = args.arch.empty() ? space.default_arch() : space.parse_arch(args.arch);
  args.opt.validate();
  torch::Device device = select_device(args.device, args.threads);
  DataSpec spec = DataSpec::parse(args.data);
  TrainTest data = load_train_test(spec, space.input_shape().h, space.input_shape().w);
  require_data_fits(space, data.train, spec.to_string());
  if (!args.resume && fs::exists(fs::path(args.out) / "checkpoint"))
    fail(args.out, " already holds a training checkpoint: pass --resume to continue it or choose another --out");
  Trainer trainer(space, arch, args.opt, device);  // checks the options against the space before any output
  fs::create_directories(args.out);
  std::fprintf(stderr, "training %s on %s (%lld train / %lld test images) on %s\n  arch %s\n",
               space.name().c_str(), spec.to_string().c_str(), (long long)data.train.size(),
               (long long)data.test.size(), device_description(device).c_str(), space.format_arch(arch).c_str());

  TrainResult r = trainer.run(data, args.out, args.resume);

  json result = training_record(trainer, r, spec, device, args.out);
  result["command"] = "train";
  if (!args.from.empty()) {
    result["from"] = args.from;
    result["split"] = found.value("split", -1);
    result["strategy"] = found.value("strategy", "");
    // The search result gains its retrained accuracy, so one file tells the whole story.
    // Recorded relative to the search's folder, so that the pair still resolves after a move or from another cwd.
    const fs::path search_dir = fs::absolute(fs::path(args.from)).lexically_normal().parent_path();
    const fs::path result_path = fs::absolute(fs::path(args.out) / "result.json").lexically_normal();
    const fs::path relative = result_path.lexically_relative(search_dir);
    found["retrained"] = {{"test_accuracy", r.test_accuracy},
                          {"epochs", args.opt.epochs},
                          {"result", (relative.empty() ? result_path : relative).string()}};
  }
  write_json_atomic(args.out + "/result.json", result);
  if (!args.from.empty()) write_json_atomic(args.from, found);  // after the result it points to exists
  std::printf("test accuracy %.2f%% after %d epochs (%s), results in %s/result.json\n", 100 * r.test_accuracy,
              args.opt.epochs, space.format_arch(arch).c_str(), args.out.c_str());
  return 0;
}

nasc::cli::Action setup_train(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  app.add_option("--space", a->space, "Search space: preset name or JSON file")->capture_default_str();
  app.add_option("--arch", a->arch, "Architecture as comma-separated op names (default: the space's default)");
  app.add_option("--data", a->data, std::string("Data: ") + nasc::kDataSpecForms)
      ->capture_default_str();
  app.add_option("--out", a->out,
                 "Run directory for result.json, epochs.csv, checkpoint/, model.pt (default runs/train, or "
                 "<search dir>/retrain with --from)");
  app.add_option("--from", a->from, "Retrain the architecture of a search result (DIR/search.json) from scratch");
  app.add_option("--epochs", a->opt.epochs, "Training epochs")->capture_default_str();
  app.add_option("--batch-size", a->opt.batch_size, "Minibatch size")->capture_default_str();
  app.add_option("--lr", a->opt.lr, "Initial learning rate (cosine decay to 0)")->capture_default_str();
  app.add_option("--momentum", a->opt.momentum, "Nesterov momentum")->capture_default_str();
  app.add_option("--weight-decay", a->opt.weight_decay, "Weight decay")->capture_default_str();
  app.add_option("--label-smoothing", a->opt.label_smoothing, "Label smoothing (0 = off)")->capture_default_str();
  app.add_option("--train-limit", a->opt.train_limit, "Use a stratified subset of N training images, every class in proportion (0 = all)")
      ->capture_default_str();
  app.add_option("--test-limit", a->opt.test_limit, "Test on a stratified subset of N test images, the same for every seed (0 = all)")
      ->capture_default_str();
  app.add_flag("!--no-augment", a->opt.augment, "Disable random-crop/flip augmentation");
  app.add_option("--payload-split", a->opt.payload_split,
                 "Fake-quantise the activation sent at this split in training and testing, as deployed (-1: none; "
                 "with --from: the search's split)")
      ->check(CLI::Range(-1, 100000))
      ->capture_default_str();
  app.add_option("--payload-encoding", a->opt.payload_encoding,
                 "Encoding of that payload: fp32, fp16 or int8 (with --from: the search's)")
      ->check(CLI::IsMember({"fp32", "fp16", "int8"}))
      ->capture_default_str();
  app.add_flag("--float-payload", a->float_payload,
               "Train the network whole, without the payload's quantisation (the default before --payload-split)");
  app.add_flag("--resume", a->resume, "Continue from the checkpoint in --out");
  nasc::cli::add_seed_option(app, a->opt.seed);
  nasc::cli::add_device_option(app, a->device);
  nasc::cli::add_threads_option(app, a->threads);
  return [a] { return run_train(*a); };
}

}  // namespace

NASC_COMMAND(train, "train", "Train a network of a space from scratch and score it on the test set", setup_train);
