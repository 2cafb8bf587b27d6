#include "search/supernet_search.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <memory>

#include "common/error.h"
#include "data/batch_loader.h"
#include "data/random.h"
#include "nn/device.h"
#include "nn/quantize.h"
#include "common/progress.h"
#include "nn/blocks.h"
#include "search/feasible.h"
#include "search/ranking.h"
#include "train/trainer.h"

namespace nasc {

namespace fs = std::filesystem;

json SearchEpoch::to_json() const {
  return {{"epoch", epoch},         {"lr", lr},
          {"train_loss", train_loss}, {"val_loss", val_loss},
          {"val_acc", val_acc},     {"feasible_fraction", feasible_fraction},
          {"convergence", convergence}, {"mode_latency_ms", mode_latency_ms},
          {"mode_feasible", mode_feasible}, {"Delta", Delta},
          {"seconds", seconds},     {"skipped_weight_steps", skipped_weight_steps},
          {"skipped_theta_steps", skipped_theta_steps}};
}

SearchEpoch SearchEpoch::from_json(const json& j) {
  SearchEpoch e;
  e.epoch = j.at("epoch");
  e.lr = j.at("lr");
  e.train_loss = j.at("train_loss");
  e.val_loss = j.at("val_loss");
  e.val_acc = j.at("val_acc");
  e.feasible_fraction = j.at("feasible_fraction");
  e.convergence = j.at("convergence");
  e.mode_latency_ms = j.at("mode_latency_ms");
  e.mode_feasible = j.at("mode_feasible");
  e.Delta = j.at("Delta");
  e.seconds = j.at("seconds");
  e.skipped_weight_steps = j.value("skipped_weight_steps", int64_t(0));  // absent in checkpoints of older runs
  e.skipped_theta_steps = j.value("skipped_theta_steps", int64_t(0));
  return e;
}

std::string SearchEpoch::csv_header() {
  return "epoch,lr,train_loss,val_loss,val_acc,feasible_fraction,convergence,mode_latency_ms,mode_feasible,Delta,"
         "seconds,skipped_weight_steps,skipped_theta_steps";
}

std::string SearchEpoch::csv_row() const {
  char buf[320];
  std::snprintf(buf, sizeof buf, "%d,%.6g,%.6f,%.6f,%.6f,%.4f,%.6f,%.4f,%d,%.6g,%.3f,%lld,%lld", epoch, lr, train_loss,
                val_loss, val_acc, feasible_fraction, convergence, mode_latency_ms, int(mode_feasible), Delta, seconds,
                (long long)skipped_weight_steps, (long long)skipped_theta_steps);
  return buf;
}

CategoricalDistribution make_distribution(const Space& space, const std::vector<bool>& allowed_splits) {
  if (int(allowed_splits.size()) != space.num_blocks() + 1)
    fail("allowed splits: ", allowed_splits.size(), " entries, expected ", space.num_blocks() + 1);
  std::vector<int> cats(space.num_layers(), space.num_ops());
  cats.push_back(space.num_blocks() + 1);
  std::vector<std::vector<bool>> allowed(space.num_layers(), std::vector<bool>(space.num_ops(), true));
  allowed.push_back(allowed_splits);
  return CategoricalDistribution(cats, allowed);
}

SupernetSearch::SupernetSearch(const Space& space, const LatencyEstimator& latency, SearchProblem problem,
                               SearchOptions options, torch::Device device)
    : space_(space),
      latency_(latency),
      problem_(std::move(problem)),
      opt_(options),
      device_(device),
      asng_(make_distribution(space, problem_.allowed_splits), AsngConfig{1.5, options.delta_init}) {
  opt_.validate();
  // Random search's supernet (a problem that does not adapt) stays uniform, so that it is shared across thresholds.
  if (opt_.feasible_sampling && problem_.adapt && std::isfinite(problem_.max_latency_ms))
    feasible_ = std::make_unique<FeasibleSampler>(latency_, problem_.allowed_splits, problem_.max_latency_ms);
  draw_sample_ = theta_sampler();
  draw_paths_ = path_sampler();
  torch::manual_seed(opt_.seed);
  net_ = Supernet(space_);
  to_device_layout(*net_, device_);
  sgd_ = std::make_unique<torch::optim::SGD>(
      net_->parameters(),
      torch::optim::SGDOptions(opt_.lr).momentum(opt_.momentum).nesterov(opt_.momentum > 0).weight_decay(opt_.weight_decay));
}

Candidate SupernetSearch::to_candidate(const Sample& s) const {
  Candidate c;
  c.arch.assign(s.begin(), s.begin() + space_.num_layers());
  c.split = s.back();
  return c;
}

SupernetSearch::~SupernetSearch() = default;

SupernetSearch::ThetaSampler SupernetSearch::theta_sampler() const {
  if (!feasible_)
    return [this](std::mt19937_64& rng, Sample* drawn) {
      Sample s = asng_.sample(rng);
      Candidate c = to_candidate(s);
      if (drawn) *drawn = std::move(s);
      return c;
    };
  return [this](std::mt19937_64& rng, Sample* drawn) {
    Candidate c;
    if (!feasible_->sample(rng, c, &asng_.distribution().theta()))
      fail("search: no allowed split can meet ", problem_.max_latency_ms, " ms");
    if (drawn) {
      *drawn = c.arch;
      drawn->push_back(c.split);
    }
    return c;
  };
}

Candidate SupernetSearch::sample(std::mt19937_64& rng, Sample* drawn) const { return draw_sample_(rng, drawn); }

bool SupernetSearch::feasible(const Candidate& c) const {
  return latency_.total_ms(c.arch, c.split) <= problem_.max_latency_ms;
}

torch::Tensor SupernetSearch::forward(const Candidate& c, const torch::Tensor& x) {
  const int B = space_.num_blocks();
  if (!problem_.quantize || c.split == 0 || c.split == B) return net_->forward(x, c.arch);
  auto head = net_->forward_range(x, c.arch, 0, c.split);
  return net_->forward_range(fake_quantize(head, latency_.encoding()), c.arch, c.split, B);
}

int64_t SupernetSearch::validation_images(int64_t limit) const {
  const int64_t n = int64_t(val_idx_.size());
  return limit > 0 ? std::min(limit, n) : n;
}

std::pair<double, double> SupernetSearch::validate(const Candidate& c, int64_t limit) {
  if (!data_) fail("validate() before run(): no validation data");
  std::vector<int64_t> idx(score_idx_.begin(), score_idx_.begin() + validation_images(limit));
  BatchLoader loader(*data_, idx, LoaderOptions::evaluation(256), norm_);
  // Batch statistics (train-mode BN): running statistics of a supernet mix every path that shared the op.
  net_->train();
  EvalResult r = evaluate([&](const torch::Tensor& x) { return forward(c, x); }, loader, device_);
  return {r.loss, r.accuracy};
}

void SupernetSearch::save_checkpoint(const std::string& dir, const SearchState& st) {
  fs::path tmp = fs::path(dir) / "checkpoint.tmp", final_dir = fs::path(dir) / "checkpoint";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  torch::save(net_, (tmp / "supernet.pt").string());
  torch::save(*sgd_, (tmp / "optimizer.pt").string());
  json hist = json::array();
  for (auto& e : st.history) hist.push_back(e.to_json());
  write_json_atomic((tmp / "state.json").string(), {{"epochs_done", st.history.size()},
                                                    {"history", hist},
                                                    {"seconds", st.seconds},
                                                    {"converged", st.converged},
                                                    {"asng", asng_.to_json()},
                                                    {"options", opt_.to_json()}});
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
}

bool SupernetSearch::load_checkpoint(const std::string& dir, SearchState& st) {
  fs::path cdir = fs::path(dir) / "checkpoint";
  if (!fs::exists(cdir / "state.json")) return false;
  std::string ctx = (cdir / "state.json").string();
  json state = read_json_file(ctx);
  // More epochs extend a search; how its answer is chosen afterwards (rescoring, a budget to fill, the images
  // that score) does not change its course, so a finished search can be chosen from again.
  if (SearchOptions::training_fields(opt_.to_json()) != SearchOptions::training_fields(state.at("options")))
    fail(ctx, ": checkpoint was made with different search options (", state.at("options").dump(), ")");
  torch::load(net_, (cdir / "supernet.pt").string(), device_);
  to_device_layout(*net_, device_);  // a checkpoint's tensors come back in the layout they were saved in
  torch::load(*sgd_, (cdir / "optimizer.pt").string(), device_);
  asng_ = AdaptiveSNG::from_json(state.at("asng"), ctx);
  st.history.clear();
  for (auto& e : state.at("history")) st.history.push_back(SearchEpoch::from_json(e));
  st.seconds = json_get<double>(state, "seconds", ctx);
  st.converged = json_get<bool>(state, "converged", ctx);
  return true;
}

EpochTally::EpochTally(torch::Device device)
    : train_loss_sum_(torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device))) {}

void EpochTally::add(const WeightStep& w) {
  ++steps_;
  if (w.skipped)
    ++skipped_weights_;
  else
    train_loss_sum_ += w.loss;
}

void EpochTally::add(const ThetaStep& t) {
  if (t.skipped) {
    ++skipped_theta_;
    return;
  }
  for (size_t i = 0; i < t.losses.size(); ++i) {
    val_loss_sum_ += t.losses[i];
    val_correct_ += t.correct[i];
    val_seen_ += double(t.images);
    feasible_ += t.violations[i] == 0 ? 1 : 0;
    scored_ += 1;
  }
}

double EpochTally::train_loss() const {
  return train_loss_sum_.item<double>() / double(std::max<int64_t>(steps_ - skipped_weights_, 1));
}

SearchCallbacks SearchCallbacks::progress(int epochs) {
  // One live line per epoch, replaced when the next epoch starts.
  auto line = std::make_shared<std::unique_ptr<Progress>>();
  auto current = std::make_shared<int>(-1);
  SearchCallbacks cb;
  cb.on_step = [=](int epoch, int64_t step, int64_t steps, const EpochTally& t, const AdaptiveSNG& asng) {
    if (*current != epoch) *line = std::make_unique<Progress>(cat("search epoch ", epoch + 1, "/", epochs)), *current = epoch;
    Progress& p = **line;
    // Reading the running loss synchronises with the device: only when the line is printed.
    if (p.due())
      p.update(step, steps,
               cat("steps | loss ", t.train_loss(), " val acc ", t.val_acc(), " feasible ", t.feasible_fraction(),
                   " conv ", asng.distribution().convergence()));
  };
  cb.after_epoch = [=](const SearchEpoch& e, bool converged) {
    const std::string text =
        cat("search epoch ", e.epoch, "/", epochs, ": loss ", e.train_loss, " val acc ", e.val_acc, " feasible ",
            e.feasible_fraction, " convergence ", e.convergence, " mode ", e.mode_latency_ms, " ms",
            e.mode_feasible ? "" : " (infeasible)",
            e.skipped_weight_steps + e.skipped_theta_steps
                ? cat(" | skipped for non-finite loss: ", e.skipped_weight_steps, " weight, ", e.skipped_theta_steps,
                      " theta steps")
                : std::string(),
            " | ", Progress::format_seconds(e.seconds), converged ? " | converged" : "");
    if (*line) (*line)->finish(text);
    else Progress("search").finish(text);
    line->reset();
    return true;
  };
  return cb;
}

void SupernetSearch::set_lr(double lr) {
  for (auto& g : sgd_->param_groups()) static_cast<torch::optim::SGDOptions&>(g.options()).lr(lr);
}

SupernetSearch::PathSampler SupernetSearch::path_sampler() const {
  if (opt_.weight_paths == WeightPaths::theta)
    return [this](std::mt19937_64& rng) {
      std::vector<Candidate> paths;
      for (int i = 0; i < opt_.lambda; ++i) paths.push_back(sample(rng));
      return paths;
    };
  return [this](std::mt19937_64& rng) {
    // Path k takes, in every layer, the k-th op of a fresh permutation: each op once per step.
    const int L = space_.num_layers(), n = space_.num_ops();
    std::vector<std::vector<int>> order(static_cast<size_t>(L));
    for (auto& o : order) {
      o.resize(size_t(n));
      std::iota(o.begin(), o.end(), 0);
      std::shuffle(o.begin(), o.end(), rng);
    }
    std::vector<Candidate> paths;
    for (int k = 0; k < n; ++k) {
      Candidate c = sample(rng);  // the split (and nothing else) comes from theta
      for (int l = 0; l < L; ++l) c.arch[size_t(l)] = order[size_t(l)][size_t(k)];
      paths.push_back(c);
    }
    return paths;
  };
}

WeightStep SupernetSearch::weight_step(const torch::Tensor& x, const torch::Tensor& y, std::mt19937_64& rng) {
  // Gradients set to none, not zero: ops that no sampled path used this step get no update at all (no weight
  // decay, no momentum drift), which also makes the step independent of earlier steps' sampling, so a resumed run
  // continues exactly.
  for (auto& p : net_->parameters()) p.mutable_grad() = torch::Tensor();
  WeightStep w;
  w.loss = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  const std::vector<Candidate> paths = draw_paths_(rng);
  const double n = double(paths.size());  // the step's loss is the mean over paths
  for (const Candidate& c : paths) {
    auto loss = classification_loss(forward(c, x), y, 0.0) / n;
    loss.backward();
    w.loss += loss.detach();
  }
  // A non-finite loss would poison every shared weight for good: that update is skipped.
  w.skipped = !std::isfinite(w.loss.item<double>());
  if (!w.skipped) sgd_->step();
  return w;
}

ThetaStep SupernetSearch::theta_step(const torch::Tensor& xv, const torch::Tensor& yv, std::mt19937_64& rng) {
  const int lambda = opt_.lambda;
  std::vector<Sample> samples;
  std::vector<torch::Tensor> losses_t, correct_t;
  ThetaStep t;
  t.images = xv.size(0);
  {
    torch::NoGradGuard no_grad;
    for (int i = 0; i < lambda; ++i) {
      samples.emplace_back();
      Candidate c = sample(rng, &samples.back());
      auto logits = forward(c, xv);
      losses_t.push_back(torch::nn::functional::cross_entropy(logits, yv));
      correct_t.push_back(count_correct(logits, yv));
      t.violations.push_back(latency_violation(latency_.total_ms(c.arch, c.split), problem_.max_latency_ms));
    }
  }
  // One host synchronisation per step: the ranking needs the losses.
  auto losses_cpu = torch::stack(losses_t).to(torch::kCPU, torch::kDouble);
  auto correct_cpu = torch::stack(correct_t).to(torch::kCPU, torch::kDouble);
  t.losses.assign(losses_cpu.data_ptr<double>(), losses_cpu.data_ptr<double>() + lambda);
  t.correct.assign(correct_cpu.data_ptr<double>(), correct_cpu.data_ptr<double>() + lambda);
  // A non-finite validation loss cannot be ranked: theta stays where it is.
  t.skipped = !std::all_of(t.losses.begin(), t.losses.end(), [](double l) { return std::isfinite(l); });
  if (!t.skipped && problem_.adapt) asng_.step(samples, rank_utility(t.losses, t.violations));
  return t;
}

SearchEpoch SupernetSearch::summarize(int epoch, double lr, const EpochTally& tally, double seconds) const {
  SearchEpoch e;
  e.epoch = epoch + 1;
  e.lr = lr;
  e.train_loss = tally.train_loss();
  e.skipped_weight_steps = tally.skipped_weight_steps();
  e.skipped_theta_steps = tally.skipped_theta_steps();
  e.val_loss = tally.val_loss();
  e.val_acc = tally.val_acc();
  e.feasible_fraction = tally.feasible_fraction();
  e.convergence = asng_.distribution().convergence();
  Candidate m = mode();
  e.mode_latency_ms = latency_.total_ms(m.arch, m.split);
  e.mode_feasible = e.mode_latency_ms <= problem_.max_latency_ms;
  e.Delta = asng_.Delta();
  e.seconds = seconds;
  return e;
}

// The loop around the steps: data split and loaders, resume, epochs of weight and theta steps, callbacks.
SearchState SupernetSearch::run(const ImageSet& train_set, const std::string& out_dir, bool resume,
                                SearchCallbacks callbacks) {
  if (!callbacks.on_step && !callbacks.after_epoch) callbacks = SearchCallbacks::progress(opt_.epochs);
  data_ = &train_set;
  auto all = stratified_subset(train_set, opt_.train_limit, kLimitSeed);
  TrainValIndices split = train_val_indices(int64_t(all.size()), opt_.val_fraction, opt_.seed);
  train_idx_.clear();
  val_idx_.clear();
  for (int64_t k : split.train) train_idx_.push_back(all[size_t(k)]);
  for (int64_t k : split.val) val_idx_.push_back(all[size_t(k)]);
  // Scoring uses batch statistics, so its batches must be mixed, and its first eval_limit images every class in
  // proportion: a class-sorted order would normalise one-class batches into noise. Fixed for the whole run.
  score_idx_ = stratified_order(train_set, val_idx_, mix_seed(opt_.seed, 0x5C0BEULL));
  norm_ = Normalizer::fit(train_set, train_idx_);
  LoaderOptions tl = LoaderOptions::training(train_set, opt_.batch_size, opt_.seed);
  tl.augment = opt_.augment;
  tl.drop_last = int64_t(train_idx_.size()) >= opt_.batch_size;
  LoaderOptions vl = LoaderOptions::training(train_set, opt_.batch_size, opt_.seed ^ 0x5eedULL);
  vl.augment = false;
  vl.drop_last = int64_t(val_idx_.size()) >= opt_.batch_size;
  BatchLoader train_loader(train_set, train_idx_, tl, norm_);
  BatchLoader val_loader(train_set, val_idx_, vl, norm_);
  if (train_loader.num_batches() == 0 || val_loader.num_batches() == 0)
    fail("search data too small: ", all.size(), " images give no full batch of ", opt_.batch_size);

  SearchState st;
  if (resume && !out_dir.empty() && load_checkpoint(out_dir, st))
    std::fprintf(stderr, "resuming search from %s/checkpoint after epoch %zu\n", out_dir.c_str(), st.history.size());

  const int64_t steps = train_loader.num_batches();
  const int64_t total_steps = steps * opt_.epochs;
  for (int epoch = int(st.history.size()); epoch < opt_.epochs && !st.converged; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    // Sampling depends on (seed, epoch) only, so a run resumed at an epoch boundary draws what it would have.
    std::mt19937_64 rng(opt_.seed * 0x9E3779B97F4A7C15ULL + uint64_t(epoch) + 1);
    net_->train();
    train_loader.set_epoch(epoch);
    int64_t val_round = 0;
    val_loader.set_epoch(int64_t(epoch) << 16);
    EpochTally tally(device_);
    double lr = opt_.lr;
    Batch b, v;
    for (int64_t step = 0; train_loader.next(b); ++step) {
      lr = cosine_lr(opt_.lr, epoch * steps + step, total_steps);
      set_lr(lr);
      tally.add(weight_step(b.x.to(device_, true), b.y.to(device_, true), rng));
      // The validation part is smaller than the training part: it is cycled, reshuffled each round.
      if (!val_loader.next(v)) {
        val_loader.set_epoch((int64_t(epoch) << 16) + (++val_round));
        val_loader.next(v);
      }
      tally.add(theta_step(v.x.to(device_, true), v.y.to(device_, true), rng));
      if (callbacks.on_step) callbacks.on_step(epoch, step + 1, steps, tally, asng_);
    }
    SearchEpoch e = summarize(epoch, lr, tally,
                              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    st.history.push_back(e);
    st.seconds += e.seconds;
    st.converged = problem_.adapt && asng_.converged(opt_.convergence);
    if (!out_dir.empty()) save_checkpoint(out_dir, st);
    if (callbacks.after_epoch && !callbacks.after_epoch(e, st.converged)) break;
  }
  return st;
}

}  // namespace nasc
