// The one-shot search of ARCHITECTURE.md §4: a weight-sharing supernet trained on sampled (ops, split) configurations
// while ASNG moves their distribution towards low validation loss under the latency constraint. Every strategy that
// trains a supernet (nasc, accuracy-only, device-only, server-only, random) is this loop with another problem.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <limits>
#include <memory>
#include <random>

#include "data/image_set.h"
#include "data/normalizer.h"
#include "latency/estimator.h"
#include "nn/network.h"
#include "search/asng.h"
#include "search/search_options.h"

namespace nasc {

// What is searched: the split variable's allowed values, the constraint, and whether theta adapts.
struct SearchProblem {
  double max_latency_ms = std::numeric_limits<double>::infinity();  // T_max (inf: unconstrained)
  std::vector<bool> allowed_splits;  // size B+1; a single allowed value fixes the split
  bool adapt = true;                 // false: uniform sampling throughout (random search's supernet)
  bool quantize = true;              // fake-quantise the payload at the sampled split (int8/fp16)
};

// One epoch's summary, as search.json's history and search.csv record it.
struct SearchEpoch {
  int epoch = 0;
  double lr = 0, train_loss = 0, val_loss = 0, val_acc = 0;
  double feasible_fraction = 0;  // of the configurations scored for theta
  double convergence = 0;        // mean largest probability
  double mode_latency_ms = 0;    // latency of theta's mode
  bool mode_feasible = false;
  double Delta = 0, seconds = 0;
  // Steps whose loss was not finite and whose update was skipped: the weight step (a training loss) and the
  // theta step (a validation loss among the lambda scored). Means over the epoch leave them out.
  int64_t skipped_weight_steps = 0, skipped_theta_steps = 0;
  json to_json() const;
  static SearchEpoch from_json(const json& j);
  static std::string csv_header();
  std::string csv_row() const;
};

struct SearchState {
  std::vector<SearchEpoch> history;
  double seconds = 0;
  bool converged = false;
};

// A candidate c = (ops, split) as the distribution samples it: one category per layer, then the split.
struct Candidate {
  Arch arch;
  int split = 0;
};

// One weight step: the mean training loss of its lambda configurations (a scalar on the device, so that the step
// does not wait for it), or skipped when that loss was not finite (no update made).
struct WeightStep {
  torch::Tensor loss;
  bool skipped = false;
};

// One theta step: lambda configurations scored on a validation batch (loss, correct answers, latency violation),
// or skipped when a loss was not finite (theta not moved).
struct ThetaStep {
  std::vector<double> losses, correct, violations;
  int64_t images = 0;  // per configuration
  bool skipped = false;
};

// The running sums of one epoch; means leave skipped steps out.
class EpochTally {
 public:
  explicit EpochTally(torch::Device device);
  void add(const WeightStep& w);
  void add(const ThetaStep& t);
  int64_t steps() const { return steps_; }
  double train_loss() const;  // reads the device sum: synchronises
  double val_loss() const { return val_loss_sum_ / std::max(scored_, 1.0); }
  double val_acc() const { return val_correct_ / std::max(val_seen_, 1.0); }
  double val_images() const { return val_seen_; }  // images scored, summed over configurations
  double feasible_fraction() const { return feasible_ / std::max(scored_, 1.0); }
  int64_t skipped_weight_steps() const { return skipped_weights_; }
  int64_t skipped_theta_steps() const { return skipped_theta_; }

 private:
  torch::Tensor train_loss_sum_;
  int64_t steps_ = 0, skipped_weights_ = 0, skipped_theta_ = 0;
  double val_loss_sum_ = 0, val_correct_ = 0, val_seen_ = 0, feasible_ = 0, scored_ = 0;
};

// Hooks of SupernetSearch::run. on_step comes after every step with the epoch (0-based), steps done in it, steps
// per epoch, the epoch's sums so far and the search distribution; after_epoch after each epoch's summary and
// checkpoint, and returning false stops the run there as an interruption would.
struct SearchCallbacks {
  std::function<void(int epoch, int64_t step, int64_t steps, const EpochTally& tally, const AdaptiveSNG& asng)>
      on_step;
  std::function<bool(const SearchEpoch& e, bool converged)> after_epoch;
  // Progress on stderr for a run of `epochs` epochs: a live line per epoch and a summary line after it.
  static SearchCallbacks progress(int epochs);
};

class FeasibleSampler;

class SupernetSearch {
 public:
  SupernetSearch(const Space& space, const LatencyEstimator& latency, SearchProblem problem, SearchOptions options,
                 torch::Device device);
  ~SupernetSearch();

  // Trains on a seeded split of `train_set` (train part for weights, validation part for theta); checkpoints
  // each epoch into out_dir/checkpoint (when out_dir is non-empty); with resume, continues from there. Without
  // on_step and after_epoch callbacks, SearchCallbacks::progress reports on stderr.
  SearchState run(const ImageSet& train_set, const std::string& out_dir, bool resume,
                  SearchCallbacks callbacks = {});

  // The steps of run(), public for benchmarks and tests. x, y, xv, yv are on the device; rng draws the samples.
  // weight_step: lambda sampled configurations, mean loss, one SGD step at the optimiser's current rate.
  WeightStep weight_step(const torch::Tensor& x, const torch::Tensor& y, std::mt19937_64& rng);
  // theta_step: lambda fresh configurations scored on (xv, yv), ranked feasible-first, one ASNG step (when the
  // problem adapts and the warm-up epochs are over).
  ThetaStep theta_step(const torch::Tensor& xv, const torch::Tensor& yv, std::mt19937_64& rng);
  void set_lr(double lr);

  Candidate mode() const { return to_candidate(asng_.mode()); }
  const AdaptiveSNG& asng() const { return asng_; }
  Supernet supernet() const { return net_; }

  // Mean loss and accuracy of configuration c on validation images (the first `limit`; 0 = all).
  std::pair<double, double> validate(const Candidate& c, int64_t limit);
  // How many validation images validate(c, limit) scores on.
  int64_t validation_images(int64_t limit) const;
  // Loss of configuration c on x (fake-quantised at its split when the problem says so).
  torch::Tensor forward(const Candidate& c, const torch::Tensor& x);
  Candidate to_candidate(const Sample& s) const;
  // A sample of theta as a candidate (and, in `drawn`, as theta sampled it); with feasible_sampling under a finite
  // T_max, one that meets it.
  Candidate sample(std::mt19937_64& rng, Sample* drawn = nullptr) const;
  bool feasible(const Candidate& c) const;

 private:
  // The paths a weight step trains, each on the labels, drawn as opt_.weight_paths says: chosen once, at
  // construction, like the theta sampler.
  using PathSampler = std::function<std::vector<Candidate>(std::mt19937_64&)>;
  PathSampler path_sampler() const;
  using ThetaSampler = std::function<Candidate(std::mt19937_64&, Sample*)>;
  ThetaSampler theta_sampler() const;
  SearchEpoch summarize(int epoch, double lr, const EpochTally& tally, double seconds) const;
  void save_checkpoint(const std::string& dir, const SearchState& st);
  bool load_checkpoint(const std::string& dir, SearchState& st);

  Space space_;
  const LatencyEstimator& latency_;
  SearchProblem problem_;
  SearchOptions opt_;
  torch::Device device_;
  Supernet net_{nullptr};
  std::unique_ptr<torch::optim::SGD> sgd_;
  std::unique_ptr<FeasibleSampler> feasible_;  // set when samples are drawn within the feasible set
  PathSampler draw_paths_;
  ThetaSampler draw_sample_;
  AdaptiveSNG asng_;                 // starts at uniform
  Normalizer norm_;
  const ImageSet* data_ = nullptr;
  std::vector<int64_t> train_idx_, val_idx_;
  std::vector<int64_t> score_idx_;  // val_idx_ in the stratified order validate() scores in
};

// The distribution over (ops, split) of a space: L op variables and one split variable with the allowed values.
CategoricalDistribution make_distribution(const Space& space, const std::vector<bool>& allowed_splits);


}  // namespace nasc
