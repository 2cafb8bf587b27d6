#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <numeric>
#include <set>
#include <random>

#include <unistd.h>

#include "../latency/latency_fixtures.h"
#include "common/error.h"
#include "data/data_spec.h"
#include "nn/blocks.h"
#include "nn/quantize.h"
#include "search/budget.h"
#include "search/feasible.h"
#include "search/strategy.h"

using namespace nasc;
namespace fs = std::filesystem;

namespace {

// A cost model where bigger ops are slower: device time proportional to multiply-accumulates, a server 20x faster.
HardwareProfile mac_profile(const Space& space, double ms_per_mmac, const std::string& cls) {
  HardwareProfile p;
  p.meta().device_class = cls;
  p.meta().description = "synthetic: proportional to multiply-accumulates";
  auto set = [&](const std::string& key, double macs) {
    if (!p.contains(key)) p.set(key, ms_per_mmac * macs / 1e6);
  };
  for (int b = 0; b < space.num_blocks(); ++b) {
    const BlockGeom& g = space.block(b);
    double hw = double(g.out.h) * g.out.w;
    if (g.kind == BlockKind::Layer) {
      for (int o = 0; o < space.num_ops(); ++o) {
        const OpSpec& op = space.op(o);
        double e = double(g.in.c) * op.expansion;
        double macs = op.skip ? (g.in.c == g.out.c && g.stride == 1 ? 0 : hw * g.in.c * g.out.c)
                              : double(g.in.h) * g.in.w * g.in.c * e / op.groups + hw * e * op.kernel * op.kernel +
                                    hw * e * g.out.c / op.groups;
        set(space.layer_key(g.layer, o), macs + 1000);
      }
    } else {
      auto keys = space.block_keys(b, 0);
      double macs = g.kind == BlockKind::Stem ? hw * 9 * g.in.c * g.out.c : double(g.in.h) * g.in.w * g.in.c * 64;
      for (auto& k : keys) set(k, macs / keys.size() + 1000);
    }
  }
  return p;
}

struct TinyScenario {
  Space space{SpaceConfig::preset("tiny")};
  HardwareProfile device = mac_profile(space, 10.0, "device");
  HardwareProfile server = mac_profile(space, 0.5, "server");
  LatencyEstimator latency{space, device, server, LinkModel{100, 100, 1, false}, Encoding::Int8};
};

// Every split allowed but 0 (the privacy floor: the raw image stays on the device); unconstrained until set.
SearchProblem behind_privacy_floor(const TinyScenario& s) {
  SearchProblem prob;
  prob.allowed_splits.assign(size_t(s.space.num_blocks() + 1), true);
  prob.allowed_splits[0] = false;
  return prob;
}

const TrainTest& fmnist() {
  static TrainTest data = load_train_test(DataSpec::parse("fmnist"));
  return data;
}

// Threshold position (between the floor and the largest network) that uniform sampling rarely meets.
constexpr double kTightFraction = 0.15;

// Weight steps on theta's lambda = 2 paths: the tiny space has 9 ops, and a fair step (the default) trains 9 paths,
// which would make every search test 4.5x slower; FairWeightSteps... tests the fair step itself.
SearchOptions small_budget() {
  SearchOptions o;
  o.weight_paths = WeightPaths::theta;
  o.epochs = 2;
  o.batch_size = 64;
  o.train_limit = 1536;  // 12 weight steps per epoch
  o.eval_limit = 512;
  o.seed = 5;
  return o;
}

}  // namespace

TEST(Search, ImpossibleThresholdFailsBeforeTrainingWithTheFloor) {
  TinyScenario s;
  double floor = s.latency.oracle(1).latency.total_ms;
  SearchRequest req;
  req.max_latency_ms = floor * 0.9;
  req.options = small_budget();
  ImageSet empty;  // never touched: the check comes first
  try {
    run_strategy(req, s.space, s.latency, empty, torch::kCPU, "", false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("below the minimum achievable latency"), std::string::npos) << msg;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", floor);
    EXPECT_NE(msg.find(buf), std::string::npos) << msg << " should name the floor " << buf;
  }
}

TEST(Search, NascFindsAFeasibleArchitectureUnderABindingThreshold) {
  torch::set_num_threads(2);
  TinyScenario s;
  double floor = s.latency.oracle(1).latency.total_ms;
  Arch biggest(s.space.num_layers(), s.space.op_index("k5_e6"));
  double biggest_ms = s.latency.best_split(biggest, 1).total_ms;
  SearchRequest req;
  req.max_latency_ms = floor + 0.5 * (biggest_ms - floor);  // binds: the largest network is out of reach
  ASSERT_LT(req.max_latency_ms, biggest_ms);
  req.options = small_budget();
  req.options.fill_budget = 0;  // theta's own mode: the supernet accuracy below is that of the paths it trained
  req.options.epochs = 3;
  req.options.train_limit = 4096;  // 32 weight steps per epoch
  req.options.lr = 0.1;
  json r = run_strategy(req, s.space, s.latency, fmnist().train, torch::kCPU, "", false);
  EXPECT_TRUE(r["feasible"].get<bool>()) << r.dump();
  EXPECT_LE(r["latency"]["total_ms"].get<double>(), req.max_latency_ms);
  EXPECT_GE(r["split"].get<int>(), 1);  // privacy floor
  EXPECT_EQ(r["history"].size(), 3u);
  EXPECT_GT(r["supernet_val_acc"].get<double>(), 0.2);  // trained above chance (0.1) in 96 steps
  Arch a = s.space.parse_arch(r["arch"].get<std::string>());
  EXPECT_DOUBLE_EQ(s.latency.total_ms(a, r["split"]), r["latency"]["total_ms"].get<double>());
}

// --fill-budget: the answer uses at least that share of T; without it the answer of this short search is faster
// than 0.95 T (so the option has something to change).
TEST(Search, FillBudgetReturnsAnAnswerThatUsesTheThreshold) {
  TinyScenario s;
  const double floor = s.latency.oracle(1).latency.total_ms;
  SearchRequest req;
  req.max_latency_ms = threshold_between(floor, largest_network_ms(s.latency, 1), 0.5);
  req.options = small_budget();
  req.options.epochs = 1;
  req.options.train_limit = 512;
  req.options.eval_limit = 128;
  req.options.fill_budget = 0;  // the plain answer first
  const double T = req.max_latency_ms;
  // The first seed whose plain answer leaves room below T (the option then has something to change).
  json plain;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    req.options.seed = seed;
    plain = run_strategy(req, s.space, s.latency, fmnist().train, torch::kCPU, "", false);
    if (plain["latency"]["total_ms"].get<double>() < 0.95 * T) break;
  }
  ASSERT_LT(plain["latency"]["total_ms"].get<double>(), 0.95 * T) << plain["selection"];
  req.options.fill_budget = 0.95;
  json r = run_strategy(req, s.space, s.latency, fmnist().train, torch::kCPU, "", false);
  EXPECT_GE(r["latency"]["total_ms"].get<double>(), 0.95 * T) << r["selection"];
  EXPECT_LE(r["latency"]["total_ms"].get<double>(), T);
  ASSERT_TRUE(r.contains("unfilled")) << r["selection"];
  EXPECT_EQ(r["unfilled"]["arch"], plain["arch"]) << "the same training gave the same mode, which was too fast";
  EXPECT_LT(r["unfilled"]["total_ms"].get<double>(), 0.95 * T);
  EXPECT_NE(r["selection"].get<std::string>().find("0.95"), std::string::npos) << r["selection"];
  req.options.fill_budget = 1;
  EXPECT_THROW(req.options.validate(), Error);
}

// A threshold quantile of a space's latency: over every network of nbmacro (3^8, enumerated), equal to the
// interpolated rank computed here from a base-3 count; over the tiny space (9^7, drawn), a fresh sample of other
// networks falls below the 0.25-quantile about a quarter of the time.
TEST(Search, LatencyQuantileIsAQuantileOfTheSpacesNetworks) {
  Space nb(SpaceConfig::preset("nbmacro"));
  const LatencyEstimator est(nb, test::random_profile(nb, 3, 0.5, 2.0), test::random_profile(nb, 4, 0.05, 0.2),
                             LinkModel{1000, 1000, 0, false}, Encoding::Int8);  // a fast link: splits pay
  std::vector<double> ms;
  for (int index = 0; index < 6561; ++index) {
    Arch a;
    for (int l = 0, rest = index; l < 8; ++l, rest /= 3) a.push_back(rest % 3);
    ms.push_back(est.best_split(a, 1).total_ms);
  }
  std::sort(ms.begin(), ms.end());
  for (double q : {0.25, 0.5, 0.9}) {
    const double pos = q * 6560;
    const size_t lo = size_t(pos);
    EXPECT_NEAR(latency_quantile_ms(est, 1, q), ms[lo] + (ms[lo + 1] - ms[lo]) * (pos - double(lo)), 1e-9) << q;
  }
  EXPECT_GT(latency_quantile_ms(est, nb.num_blocks(), 0.5), latency_quantile_ms(est, 1, 0.5))
      << "device-only networks are slower than the same networks at their best split";

  TinyScenario s;
  const double T = latency_quantile_ms(s.latency, 1, 0.25);
  EXPECT_EQ(T, latency_quantile_ms(s.latency, 1, 0.25)) << "the drawn networks are the same on every call";
  std::mt19937_64 rng(12345);
  std::uniform_int_distribution<int> op(0, s.space.num_ops() - 1);
  int below = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    Arch a(size_t(s.space.num_layers()));
    for (int& o : a) o = op(rng);
    below += s.latency.best_split(a, 1).total_ms <= T;
  }
  EXPECT_NEAR(double(below) / n, 0.25, 0.03);
}

// A finished search resumes only with the options it was made with, except those that choose its answer
// afterwards: with another --eval-limit or --fill-budget it is chosen from again, not trained again.
TEST(Search, ResumeRefusesOtherOptionsButNotAnotherWayToChoose) {
  TinyScenario s;
  SearchRequest req;
  req.max_latency_ms = threshold_between(s.latency.oracle(1).latency.total_ms, largest_network_ms(s.latency, 1), 0.5);
  req.options = small_budget();
  req.options.epochs = 1;
  req.options.train_limit = 256;
  req.options.eval_limit = 64;
  req.options.fill_budget = 0;
  const fs::path dir = fs::temp_directory_path() / ("nasc_rechoose_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const json first = run_strategy(req, s.space, s.latency, fmnist().train, torch::kCPU, dir.string(), true);
  SearchRequest other = req;
  other.options.lr *= 2;
  try {
    run_strategy(other, s.space, s.latency, fmnist().train, torch::kCPU, dir.string(), true);
    ADD_FAILURE() << "a checkpoint made with another learning rate was resumed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("different search options"), std::string::npos) << e.what();
  }
  other = req;
  other.options.eval_limit = 32;
  other.options.fill_budget = 0.9;
  const json again = run_strategy(other, s.space, s.latency, fmnist().train, torch::kCPU, dir.string(), true);
  EXPECT_EQ(again["history"], first["history"]) << "resumed from the checkpoint, not trained again";
  EXPECT_EQ(again["theta"], first["theta"]);
  EXPECT_EQ(again["options"]["eval_limit"], 32);
  EXPECT_GE(again["latency"]["total_ms"].get<double>(), 0.9 * req.max_latency_ms) << again["selection"];
  fs::remove_all(dir);
}

// Each theta step scores each of its lambda samples on one held-out batch of the training batch size.
TEST(Search, ThetaStepsScoreEachSampleOnOneBatch) {
  torch::set_num_threads(2);
  TinyScenario s;
  SearchProblem prob = behind_privacy_floor(s);
  SearchOptions o = small_budget();
  o.epochs = 1;
  o.batch_size = 32;
  o.train_limit = 200;  // 100 held out
  SupernetSearch search(s.space, s.latency, prob, o, torch::kCPU);
  double images = -1;
  SearchCallbacks cb;
  cb.on_step = [&](int, int64_t step, int64_t, const EpochTally& t, const AdaptiveSNG&) {
    if (step == 1) images = t.val_images();
  };
  cb.after_epoch = [](const SearchEpoch&, bool) { return false; };
  search.run(fmnist().train, "", false, cb);
  EXPECT_EQ(images, o.lambda * 32);
}

// A learning rate that makes the weights overflow: the search skips and counts the non-finite steps and finishes
// with finite means, where one NaN used to end the whole search.
TEST(Search, NonFiniteLossesAreSkippedAndCountedNotFatal) {
  torch::set_num_threads(2);
  TinyScenario s;
  SearchRequest req;
  req.max_latency_ms = 1e9;
  req.options = small_budget();
  req.options.epochs = 1;
  req.options.lr = 1e30;
  json r = run_strategy(req, s.space, s.latency, fmnist().train, torch::kCPU, "", false);
  ASSERT_EQ(r["history"].size(), 1u);
  const json& e = r["history"][0];
  EXPECT_GT(e["skipped_weight_steps"].get<int64_t>(), 0) << e.dump();
  EXPECT_GT(e["skipped_theta_steps"].get<int64_t>(), 0) << e.dump();
  EXPECT_LT(e["skipped_weight_steps"].get<int64_t>(), 12) << "the first steps still had finite losses";
  EXPECT_TRUE(std::isfinite(e["train_loss"].get<double>())) << e.dump();
}

// theta adapts through the search's own theta step: under a threshold that few uniformly drawn candidates meet, with
// the paper's ranking (feasible samples first, the others by violation) theta steps alone (untrained weights: the
// losses carry no signal, feasibility does) must move the samples into the feasible set, and a frozen theta (random
// search's problem) must not. Fails when the ranking's order is reversed (the utility's sign flipped) or when theta
// does not move.
TEST(Search, ThetaStepsMoveSamplesIntoTheFeasibleSet) {
  torch::set_num_threads(2);
  TinyScenario s;
  SearchProblem prob = behind_privacy_floor(s);
  const double floor = s.latency.oracle(1).latency.total_ms;
  Arch biggest(s.space.num_layers(), s.space.op_index("k5_e6"));
  prob.max_latency_ms = floor + kTightFraction * (s.latency.best_split(biggest, 1).total_ms - floor);
  torch::manual_seed(3);
  const auto x = torch::randn({4, 1, 28, 28}), y = torch::randint(10, {4}, torch::kLong);
  // Feasible share of the samples over the first and the last 50 of 400 theta steps.
  auto feasible_share = [&](bool adapt) {
    prob.adapt = adapt;
    SearchOptions o = small_budget();
    o.feasible_sampling = false;  // the paper's ranking: samples drawn freely, feasible ones first
    SupernetSearch search(s.space, s.latency, prob, o, torch::kCPU);
    std::mt19937_64 rng(7);
    std::vector<double> share;
    for (int i = 0; i < 400; ++i) {
      ThetaStep t = search.theta_step(x, y, rng);
      share.push_back(double(std::count(t.violations.begin(), t.violations.end(), 0.0)) / double(t.violations.size()));
    }
    auto mean = [&](int from, int to) { return std::accumulate(share.begin() + from, share.begin() + to, 0.0) / (to - from); };
    return std::make_pair(mean(0, 50), mean(350, 400));
  };
  auto [adapt_first, adapt_last] = feasible_share(true);
  auto [frozen_first, frozen_last] = feasible_share(false);
  // Measured: frozen (uniform) 0.01-0.02 throughout; adapting 0.24 over the first 50 steps and 0.66 over the last
  // 50; with the utilities negated 0.02 and then 0.
  const std::string seen = cat("adapting: first ", adapt_first, " last ", adapt_last, "; frozen: first ",
                               frozen_first, " last ", frozen_last);
  EXPECT_LT(adapt_first, 0.4) << "the threshold should be tight for uniform sampling; " << seen;
  EXPECT_GT(adapt_last, adapt_first + 0.3) << seen;
  EXPECT_GT(adapt_last, frozen_last + 0.3) << seen;
}

// Feasible sampling (the default ranking): every sample theta scores and every path the weights train meets T, even at a threshold
// that almost no uniform sample meets; random search's supernet (a problem that does not adapt) stays uniform.
TEST(Search, FeasibleSamplingScoresOnlySamplesThatMeetT) {
  TinyScenario s;
  SearchProblem prob = behind_privacy_floor(s);
  const double floor = s.latency.oracle(1).latency.total_ms;
  prob.max_latency_ms = threshold_between(floor, largest_network_ms(s.latency, 1), kTightFraction);
  torch::manual_seed(3);
  const auto x = torch::randn({4, 1, 28, 28}), y = torch::randint(10, {4}, torch::kLong);
  SearchOptions o = small_budget();
  ASSERT_TRUE(o.feasible_sampling) << "the default";
  SupernetSearch search(s.space, s.latency, prob, o, torch::kCPU);
  std::mt19937_64 rng(7);
  EpochTally tally(torch::kCPU);
  for (int i = 0; i < 20; ++i) tally.add(search.theta_step(x, y, rng));
  EXPECT_EQ(tally.feasible_fraction(), 1.0);
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(search.feasible(search.sample(rng)));
  EXPECT_NE(json(search.asng().distribution().theta()),
            json(SupernetSearch(s.space, s.latency, prob, small_budget(), torch::kCPU).asng().distribution().theta()))
      << "ranked by loss, feasible samples must move theta";
  EXPECT_EQ(SearchOptions().to_json()["feasible_sampling"], true) << "written while on, the default";
  o.feasible_sampling = false;
  EXPECT_FALSE(o.to_json().contains("feasible_sampling")) << "off, options of runs made before it stay equal";
  EXPECT_TRUE(SearchOptions::from_json(o.to_json(), "options").feasible_sampling)
      << "a config without the field gets today's default";
  o.feasible_sampling = true;

  prob.adapt = false;
  SupernetSearch random_fs(s.space, s.latency, prob, o, torch::kCPU);
  int missed = 0;
  for (int i = 0; i < 200; ++i) missed += !random_fs.feasible(random_fs.sample(rng));
  EXPECT_GT(missed, 100) << "a supernet that does not adapt samples uniformly";
}

// On the Raspberry Pi 4 -> Titan RTX profiles at 10 Mbit/s the cheapest split depends on the ops (the stem's output
// to the GPU for heavy heads, no cut for light ones): priced under uniform ops alone, the tilt sent every sample to
// cheap ops behind an early cut and none met T. Half of them must.
TEST(ThetaMeetingThreshold, MeetsTWhenTheBestSplitDependsOnTheOps) {
  Space space(SpaceConfig::preset("hwnas-cifar10"));
  const std::string dir = std::string(NASC_SOURCE_DIR) + "/profiles/";
  LatencyEstimator latency(space, HardwareProfile::load(dir + "raspi4-hwnas-cifar.json"),
                           HardwareProfile::load(dir + "titanrtx-hwnas-cifar.json"), LinkModel{10, 10, 5, false},
                           Encoding::Int8);
  std::vector<bool> splits(size_t(space.num_blocks() + 1), true);
  splits[0] = false;
  const CategoricalDistribution start = make_distribution(space, splits);
  const double floor = latency.oracle(1).latency.total_ms, top = largest_network_ms(latency, 1);
  for (double f : {0.05, 0.1, 0.2}) {
    const double t = threshold_between(floor, top, f);
    CategoricalDistribution d = start;
    d.set_theta(theta_meeting_threshold(latency, start, t, 0.5, 2));
    std::mt19937_64 rng(7);
    int met = 0, uniform_met = 0;
    for (int i = 0; i < 4000; ++i) {
      const Sample c = d.sample(rng), u = start.sample(rng);
      met += latency.total_ms(Arch(c.begin(), c.end() - 1), c.back()) <= t;
      uniform_met += latency.total_ms(Arch(u.begin(), u.end() - 1), u.back()) <= t;
    }
    EXPECT_LT(uniform_met / 4000.0, 0.3) << "f " << f << ": the threshold should bind";
    EXPECT_NEAR(met / 4000.0, 0.5, 0.08) << "f " << f << ", T " << t << " ms";
  }
}

// Fair sampling (FairNAS): one weight step trains every op of every layer, where lambda = 2 paths from a uniform
// theta leave most ops of the tiny space untouched.
TEST(Search, FairWeightStepsTrainEveryOp) {
  torch::set_num_threads(2);
  TinyScenario s;
  SearchProblem prob = behind_privacy_floor(s);
  torch::manual_seed(5);
  const auto x = torch::randn({8, 1, 28, 28}), y = torch::randint(10, {8}, torch::kLong);
  auto untouched_after_one_step = [&](SearchOptions o) {
    SupernetSearch search(s.space, s.latency, prob, o, torch::kCPU);
    std::vector<torch::Tensor> before;
    for (auto& p : search.supernet()->parameters()) before.push_back(p.detach().clone());
    std::mt19937_64 rng(11);
    search.weight_step(x, y, rng);
    int untouched = 0;
    auto params = search.supernet()->parameters();
    for (size_t i = 0; i < params.size(); ++i) untouched += torch::equal(params[i], before[i]);
    return untouched;
  };
  SearchOptions o = small_budget();
  o.weight_paths = WeightPaths::theta;
  EXPECT_GT(untouched_after_one_step(o), 0) << "two paths drawn from theta cannot reach every op";
  o.weight_paths = WeightPaths::fair;
  EXPECT_EQ(untouched_after_one_step(o), 0) << "a fair step must train every op of every layer";
  EXPECT_EQ(o.to_json()["fair_sampling"], true);
  o.weight_paths = WeightPaths::theta;
  EXPECT_FALSE(o.to_json().contains("fair_sampling")) << "off, it must not change old fingerprints";
  EXPECT_EQ(SearchOptions::from_json(o.to_json(true), "options").weight_paths, WeightPaths::theta)
      << "theta paths are written as fair_sampling false, so they read back";
  EXPECT_EQ(parse_weight_paths("theta", "--weight-paths"), WeightPaths::theta);
  EXPECT_THROW(parse_weight_paths("all", "--weight-paths"), Error);

}

// The loss the search ranks is the deployed one: the payload at the sampled split is fake-quantised exactly as the
// wire will carry it, and nothing is quantised when no payload crosses (split B) or the problem says so.
TEST(Search, ForwardFakeQuantisesThePayloadAtTheSampledSplit) {
  torch::NoGradGuard no_grad;
  TinyScenario s;  // int8 payloads
  const int B = s.space.num_blocks();
  SearchProblem prob;
  prob.allowed_splits.assign(size_t(B + 1), true);
  SupernetSearch search(s.space, s.latency, prob, small_budget(), torch::kCPU);
  Supernet net = search.supernet();
  torch::manual_seed(4);
  const auto x = torch::randn({8, 1, 28, 28});
  Candidate c{s.space.default_arch(), 3};
  const auto head = net->forward_range(x, c.arch, 0, c.split);
  const auto want = net->forward_range(fake_quantize(head, Encoding::Int8), c.arch, c.split, B);
  const auto plain = net->forward(x, c.arch);
  EXPECT_TRUE(torch::equal(search.forward(c, x), want));
  EXPECT_GT((want - plain).abs().max().item<double>(), 1e-6) << "int8 rounding must reach the scores";
  c.split = B;
  EXPECT_TRUE(torch::equal(search.forward(c, x), plain));
  prob.quantize = false;
  SupernetSearch unquantised(s.space, s.latency, prob, small_budget(), torch::kCPU);
  copy_module_state(*net, *unquantised.supernet());
  c.split = 3;
  EXPECT_TRUE(torch::equal(unquantised.forward(c, x), plain));
}

TEST(Search, BaselinesHonourTheirDefinitions) {
  torch::set_num_threads(2);
  TinyScenario s;
  const int B = s.space.num_blocks();
  SearchRequest req;
  req.options = small_budget();
  req.options.epochs = 1;
  req.max_latency_ms = 1e9;  // every configuration feasible: only the split rules matter here
  req.strategy = Strategy::parse("fixed:k3_e6", s.space);
  json fixed = run_strategy(req, s.space, s.latency, fmnist().train, torch::kCPU, "", false);
  Arch k3e6(s.space.num_layers(), s.space.op_index("k3_e6"));
  EXPECT_EQ(fixed["arch"], s.space.format_arch(k3e6));
  EXPECT_EQ(fixed["split"], s.latency.best_split(k3e6, 1).split);
  req.strategy = Strategy::parse("device-only", s.space);
  EXPECT_EQ(run_strategy(req, s.space, s.latency, fmnist().train, torch::kCPU, "", false)["split"], B);
  req.strategy = Strategy::parse("server-only", s.space);
  EXPECT_EQ(run_strategy(req, s.space, s.latency, fmnist().train, torch::kCPU, "", false)["split"], 1);
  req.strategy = Strategy::parse("random:5", s.space);
  req.options.train_limit = 2400;  // 1,200 held out
  req.options.eval_limit = 0;      // all of them, as NASC's final scoring would use
  json rnd = run_strategy(req, s.space, s.latency, fmnist().train, torch::kCPU, "", false);
  EXPECT_EQ(rnd["random_feasible_scored"], 5);
  EXPECT_EQ(rnd["random_scored_by"], "held-out loss");
  ASSERT_EQ(rnd["random_scored"].size(), 5u);
  double lowest = 1e9;
  for (const json& c : rnd["random_scored"]) lowest = std::min(lowest, c["supernet_val_loss"].get<double>());
  EXPECT_DOUBLE_EQ(rnd["supernet_val_loss"].get<double>(), lowest) << "the candidate of lowest loss is the answer";
  EXPECT_EQ(rnd["random_scored_images"], 1200) << "random search scores on the same images as the rescoring";
  EXPECT_THROW(Strategy::parse("random:x", s.space), Error);
  EXPECT_THROW(Strategy::parse("fixed:k9_e9", s.space), Error);
  EXPECT_THROW(Strategy::parse("greedy", s.space), Error);
}

TEST(Search, ResumedSearchEqualsUninterruptedSearch) {
  torch::set_num_threads(1);
  TinyScenario s;
  SearchProblem prob = behind_privacy_floor(s);
  prob.max_latency_ms = s.latency.oracle(1).latency.total_ms * 1.5;
  fs::path a = fs::temp_directory_path() / ("nasc_search_a_" + std::to_string(::getpid()));
  fs::path b = fs::temp_directory_path() / ("nasc_search_b_" + std::to_string(::getpid()));
  fs::remove_all(a);
  fs::remove_all(b);

  SupernetSearch whole(s.space, s.latency, prob, small_budget(), torch::kCPU);
  SearchState sa = whole.run(fmnist().train, a.string(), false);
  SupernetSearch first(s.space, s.latency, prob, small_budget(), torch::kCPU);
  SearchCallbacks stop_after_one;
  stop_after_one.after_epoch = [](const SearchEpoch&, bool) { return false; };
  first.run(fmnist().train, b.string(), false, stop_after_one);
  SupernetSearch second(s.space, s.latency, prob, small_budget(), torch::kCPU);
  SearchState sb = second.run(fmnist().train, b.string(), true);

  ASSERT_EQ(sa.history.size(), sb.history.size());
  for (size_t i = 0; i < sa.history.size(); ++i) {
    json ja = sa.history[i].to_json(), jb = sb.history[i].to_json();
    ja.erase("seconds");
    jb.erase("seconds");
    EXPECT_EQ(ja, jb) << "epoch " << i + 1;
  }
  EXPECT_EQ(whole.asng().to_json(), second.asng().to_json());
  auto pa = whole.supernet()->parameters(), pb = second.supernet()->parameters();
  for (size_t i = 0; i < pa.size(); ++i) ASSERT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
  fs::remove_all(a);
  fs::remove_all(b);
}

namespace {

// Random device (0.1-2 ms per block) and server (0.01-server_hi ms) profiles of `space` over a 10 Mbit/s link.
LatencyEstimator tiny_estimator(const Space& space, double delay_ms, uint32_t device_seed, uint32_t server_seed,
                                double server_hi) {
  LinkModel link;
  link.uplink_mbps = link.downlink_mbps = 10;
  link.delay_ms = delay_ms;
  return LatencyEstimator(space, test::random_profile(space, device_seed, 0.1, 2.0),
                          test::random_profile(space, server_seed, 0.01, server_hi), link, Encoding::Int8);
}

// Every split of B blocks but 0: the privacy floor.
std::vector<bool> all_but_raw_input(int B) {
  std::vector<bool> allowed(size_t(B + 1), true);
  allowed[0] = false;
  return allowed;
}

}  // namespace

// A threshold just above the privacy-floored oracle leaves a tiny feasible set that uniform rejection sampling
// almost never hits; the sampler must still return only feasible, allowed configurations, and several of them.
TEST(SampleFeasible, TightThresholdYieldsOnlyFeasibleAllowedConfigurations) {
  Space space(SpaceConfig::preset("tiny"));
  const int B = space.num_blocks();
  LatencyEstimator est = tiny_estimator(space, 5, 1, 2, 0.2);
  const std::vector<bool> allowed = all_but_raw_input(B);
  const double floor = est.oracle(1).latency.total_ms;
  std::mt19937_64 rng(7);
  for (double slack : {0.0, 0.5, 3.0}) {
    const double tmax = floor + slack;
    std::set<std::pair<std::vector<int>, int>> seen;
    for (int i = 0; i < 400; ++i) {
      Candidate c;
      ASSERT_TRUE(sample_feasible(est, allowed, tmax, rng, c));
      ASSERT_EQ(int(c.arch.size()), space.num_layers());
      EXPECT_GE(c.split, 1);
      EXPECT_LE(est.total_ms(c.arch, c.split), tmax + 1e-9) << space.format_arch(c.arch) << " @" << c.split;
      seen.insert({c.arch, c.split});
    }
    if (slack >= 3.0) EXPECT_GT(seen.size(), 50u) << "a loose threshold must give varied samples";
  }
  Candidate c;
  EXPECT_FALSE(sample_feasible(est, allowed, floor - 1e-3, rng, c));
}

// With theta, sample_feasible still meets T, and among the choices that stay feasible it follows theta: a layer
// whose row puts most of its mass on one op takes that op far more often than uniform sampling does.
TEST(SampleFeasible, FollowsThetaWithinTheFeasibleSet) {
  Space space(SpaceConfig::preset("tiny"));
  const int B = space.num_blocks(), L = space.num_layers(), K = space.num_ops();
  LatencyEstimator est = tiny_estimator(space, 5, 1, 2, 0.2);
  const std::vector<bool> allowed = all_but_raw_input(B);
  const double tmax = est.oracle(1).latency.total_ms + 3.0;
  Matrix theta(size_t(L + 1));
  for (int l = 0; l < L; ++l) theta[size_t(l)].assign(size_t(K), 0.1 / (K - 1));
  theta[0][1] = 0.9;  // layer 0 prefers op 1
  theta[size_t(L)].assign(size_t(B + 1), 0.0);
  for (int p = 1; p <= B; ++p) theta[size_t(L)][size_t(p)] = 1.0 / B;
  std::mt19937_64 rng(5);
  int with_theta = 0, uniform = 0;
  const int n = 2000;
  for (int i = 0; i < n; ++i) {
    Candidate c, u;
    ASSERT_TRUE(sample_feasible(est, allowed, tmax, rng, c, &theta));
    ASSERT_TRUE(sample_feasible(est, allowed, tmax, rng, u));
    EXPECT_LE(est.total_ms(c.arch, c.split), tmax + 1e-9);
    EXPECT_GE(c.split, 1) << "theta's split row forbids p = 0";
    with_theta += c.arch[0] == 1;
    uniform += u.arch[0] == 1;
  }
  EXPECT_GT(with_theta, 2 * uniform) << with_theta << " of " << n << " against " << uniform << " uniformly";
  EXPECT_GT(with_theta, n / 2);
  theta.pop_back();
  Candidate c;
  EXPECT_THROW(sample_feasible(est, allowed, tmax, rng, c, &theta), Error) << "theta without its split row";
}

// With every layer priced alike, no layer may be favoured: a sampler that fills layers front to back spends the
// budget on the first ones (here P(not skip) fell from 0.89 at the first layer to 0 at the last).
TEST(SampleFeasible, SpendsTheBudgetOnNoLayerInParticular) {
  Space space(SpaceConfig::preset("tiny"));
  const int B = space.num_blocks(), L = space.num_layers(), skip = space.op_index("skip");
  HardwareProfile flat;
  flat.meta().device_class = "device";
  flat.meta().description = "synthetic: every layer costs the same per op";
  for (int b = 0; b < B; ++b) {
    const BlockGeom& g = space.block(b);
    if (g.kind == BlockKind::Layer)
      for (int o = 0; o < space.num_ops(); ++o) flat.set(space.layer_key(g.layer, o), o == skip ? 0.01 : 1.0);
    else
      for (auto& k : space.block_keys(b, 0)) flat.set(k, 0.1);
  }
  LatencyEstimator est(space, flat, flat, LinkModel{10, 10, 5, false}, Encoding::Int8);
  std::vector<bool> device_only(size_t(B + 1), false);
  device_only.back() = true;
  const double floor = est.oracle(B).latency.total_ms;
  std::mt19937_64 rng(3);
  std::vector<int> used(size_t(L), 0);
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    Candidate c;
    ASSERT_TRUE(sample_feasible(est, device_only, floor + 2.5, rng, c));  // room for two or three ops
    for (int l = 0; l < L; ++l) used[l] += c.arch[l] != skip;
  }
  const double mean = std::accumulate(used.begin(), used.end(), 0.0) / L / n;
  EXPECT_GT(mean, 0.2);
  for (int l = 0; l < L; ++l) EXPECT_NEAR(used[l] / double(n), mean, 0.05) << "layer " << l;
}

// When theta's mode misses the threshold, the search returns the most probable feasible configuration. The DP must
// return a feasible one whose log-probability lies between the brute-force optimum at the threshold and the optimum
// at the threshold tightened by the DP's rounding (L grid steps): exact up to its stated resolution.
TEST(MostLikelyFeasible, MatchesBruteForceUpToTheGrid) {
  Space space(SpaceConfig::preset("tiny"));
  const int B = space.num_blocks(), L = space.num_layers(), K = space.num_ops();
  LatencyEstimator est = tiny_estimator(space, 2, 3, 4, 0.5);
  const std::vector<bool> allowed = all_but_raw_input(B);
  int banded_cases = 0;
  for (uint32_t seed : {1u, 2u, 3u}) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(0.05, 1.0);
    Matrix theta(size_t(L + 1));
    for (int l = 0; l <= L; ++l) {
      const int k = l < L ? K : B + 1;
      theta[size_t(l)].resize(size_t(k));
      double sum = 0;
      for (int c = 0; c < k; ++c) sum += theta[size_t(l)][size_t(c)] = (l == L && !allowed[c]) ? 0.0 : u(rng);
      for (auto& v : theta[size_t(l)]) v /= sum;
    }
    Candidate mode;
    for (int l = 0; l < L; ++l)
      mode.arch.push_back(int(std::max_element(theta[size_t(l)].begin(), theta[size_t(l)].end()) - theta[size_t(l)].begin()));
    mode.split = int(std::max_element(theta[size_t(L)].begin(), theta[size_t(L)].end()) - theta[size_t(L)].begin());
    const double floor = est.oracle(1).latency.total_ms;
    const double tmax = floor + 0.4 * (est.total_ms(mode.arch, mode.split) - floor);
    ASSERT_GT(est.total_ms(mode.arch, mode.split), tmax) << "the test needs an infeasible mode";

    // Brute force over every allowed (ops, split): the best log-probability within a latency limit.
    auto best_within = [&](double limit, double at_least = 0) {
      double best = -std::numeric_limits<double>::infinity();
      for (int p = 1; p <= B; ++p) {
        const double fixed = est.link_ms(p) + est.block_ms(0, 0, p) + est.block_ms(B - 1, 0, p);
        std::function<void(int, double, double)> go = [&](int l, double ms, double lp) {
          if (ms > limit) return;
          if (l == L) {
            if (ms >= at_least) best = std::max(best, lp + std::log(theta[size_t(L)][size_t(p)]));
            return;
          }
          for (int op = 0; op < K; ++op) go(l + 1, ms + est.block_ms(l + 1, op, p), lp + std::log(theta[size_t(l)][size_t(op)]));
        };
        go(0, fixed, 0.0);
      }
      return best;
    };
    Candidate c;
    ASSERT_TRUE(most_likely_feasible(est, theta, allowed, tmax, c));
    ASSERT_EQ(int(c.arch.size()), L);
    EXPECT_TRUE(allowed[size_t(c.split)]);
    EXPECT_LE(est.total_ms(c.arch, c.split), tmax);
    double lp = std::log(theta[size_t(L)][size_t(c.split)]);
    for (int l = 0; l < L; ++l) lp += std::log(theta[size_t(l)][size_t(c.arch[size_t(l)])]);
    EXPECT_LE(lp, best_within(tmax) + 1e-9);
    EXPECT_GE(lp, best_within(tmax - L * tmax / kLatencyGrid) - 1e-9) << "seed " << seed;

    // With a lower bound too (--fill-budget): the most probable configuration in a band above the unbounded
    // answer, which the bound must therefore exclude.
    const double step = tmax / kLatencyGrid, lo = est.total_ms(c.arch, c.split) + 0.3 * (tmax - est.total_ms(c.arch, c.split));
    if (lo + 2 * L * step < tmax) {
      Candidate banded;
      ASSERT_TRUE(most_likely_feasible(est, theta, allowed, tmax, banded, lo));
      const double ms = est.total_ms(banded.arch, banded.split);
      EXPECT_GE(ms, lo);
      EXPECT_LE(ms, tmax);
      double blp = std::log(theta[size_t(L)][size_t(banded.split)]);
      for (int l = 0; l < L; ++l) blp += std::log(theta[size_t(l)][size_t(banded.arch[size_t(l)])]);
      EXPECT_LE(blp, best_within(tmax, lo) + 1e-9);
      EXPECT_GE(blp, best_within(tmax - L * step, lo + L * step) - 1e-9) << "seed " << seed;
      ++banded_cases;
    }
  }
  EXPECT_GT(banded_cases, 0) << "no seed exercised the lower bound";
  Candidate c;
  std::vector<std::vector<double>> uniform;
  for (int l = 0; l < L; ++l) uniform.emplace_back(size_t(K), 1.0 / K);
  uniform.emplace_back(size_t(B + 1), 1.0 / (B + 1));
  EXPECT_FALSE(most_likely_feasible(est, uniform, allowed, est.oracle(1).latency.total_ms * 0.99, c))
      << "below the floor nothing is feasible";
}
