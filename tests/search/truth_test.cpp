// Ground truth: the nbmacro preset is NAS-Bench-Macro (parameter counts and MACs equal the table's), the truth
// table's lookups and errors, its optimum under a threshold against brute force, and the free answers
// (largest-feasible, max-flops-feasible) against brute force on a small space.
#include "search/truth.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <limits>

#include "../latency/latency_fixtures.h"
#include "nn/blocks.h"
#include "nn/network.h"
#include "search/feasible.h"
#include "search/strategy.h"
#include "search/table_search.h"
#include "common/stats.h"

namespace nasc {
namespace {

using test::error_of;

const std::string kTable = std::string(NASC_SOURCE_DIR) + "/truth/nas-bench-macro-cifar10.json";

TEST(NbMacro, EveryMacCountAndSampledParameterCountsEqualTheTable) {
  Space space(SpaceConfig::preset("nbmacro"));
  ASSERT_EQ(space.num_layers(), 8);
  ASSERT_EQ(space.num_ops(), 3);
  const json table = read_json_file(kTable);
  ASSERT_EQ(table.size(), 6561u);
  int checked_params = 0, index = 0;
  for (const auto& [key, entry] : table.items()) {
    const Arch a = space.parse_arch(key);
    EXPECT_EQ(space.arch_digits(a), key);
    EXPECT_EQ(space.macs(a), entry.at("flops").get<int64_t>()) << key;
    // Building a network costs milliseconds: every 160th entry (41 of them) and the two extremes.
    if (index++ % 160 == 0 || key == "22222222" || key == "00000000") {
      EXPECT_EQ(count_parameters(*Network(space, a)), entry.at("params").get<int64_t>()) << key;
      ++checked_params;
    }
  }
  EXPECT_GE(checked_params, 20);
  EXPECT_EQ(count_parameters(*Network(space, space.parse_arch("22222222"))), 2932586);
}

TEST(NbMacro, DigitStringsAreArchitecturesWhereverNamesAre) {
  Space space(SpaceConfig::preset("nbmacro"));
  EXPECT_EQ(space.parse_arch("20110001"), space.parse_arch("k5_e6,skip,k3_e3,k3_e3,skip,skip,skip,k3_e3"));
  EXPECT_NE(error_of([&] { space.parse_arch("20310001"); }).find("op digit 3 at position 2"), std::string::npos);
  EXPECT_NE(error_of([&] { space.parse_arch("2011000"); }).find("expected 8"), std::string::npos);
  Space fmnist(SpaceConfig::preset("fmnist"));  // 9 ops: digits are the op index there too
  EXPECT_EQ(fmnist.format_arch(fmnist.parse_arch(std::string(size_t(fmnist.num_layers()), '8'))),
            fmnist.format_arch(Arch(size_t(fmnist.num_layers()), 8)));
}

TEST(Truth, LooksUpTheTableAndRefusesEntriesThatAreNotOfTheSpace) {
  Space space(SpaceConfig::preset("nbmacro"));
  TruthTable t = TruthTable::load(kTable, space);
  EXPECT_EQ(t.size(), 6561u);
  EXPECT_NEAR(*t.accuracy(space.parse_arch("22222222")), 92.9533, 1e-3);
  EXPECT_NEAR(*t.accuracy(space.parse_arch("00000000")), 45.3633, 1e-3);
  EXPECT_NEAR(t.find(space.parse_arch("22222222"))->spread, 0.0772, 1e-3);
  EXPECT_EQ(t.archs().size(), 6561u);
  EXPECT_EQ(space.arch_digits(t.archs().front()), "00000000") << "key order";

  const json partial = {{"00000000", {{"mean_acc", 50.0}}}};
  TruthTable p = TruthTable::from_json(partial, space, "p.json");
  EXPECT_FALSE(p.accuracy(space.parse_arch("11111111")).has_value());
  auto refused = [&](const json& j) { return error_of([&] { TruthTable::from_json(j, space, "t.json"); }); };
  EXPECT_NE(refused({{"0000000", {{"mean_acc", 1.0}}}}).find("entry \"0000000\" is not an architecture of space nbmacro"),
            std::string::npos);
  EXPECT_NE(refused({{"00000003", {{"mean_acc", 1.0}}}}).find("expected 8 digits 0..2"), std::string::npos);
  EXPECT_NE(refused({{"00000000", {{"acc", 1.0}}}}).find("mean_acc"), std::string::npos);
  EXPECT_NE(refused({{"00000000", {{"mean_acc", 120.0}}}}).find("not a percentage"), std::string::npos);
  EXPECT_NE(refused(json::array()).find("expected a truth table"), std::string::npos);
}

// 3 ops x 4 layers = 81 architectures: brute force over every (architecture, split) is the reference.
Space small_space() {
  SpaceConfig c;
  c.name = "small";
  c.in_channels = 1;
  c.in_height = c.in_width = 8;
  c.num_classes = 2;
  c.stem_channels = 4;
  c.stages = {{2, 8, 2}, {2, 12, 2}};
  c.head_channels = 16;
  c.ops = {"skip", "k3_e1", "k5_e3"};
  return Space(c);
}

LatencyEstimator small_estimator(const Space& space) {
  LinkModel link;
  link.uplink_mbps = link.downlink_mbps = 1;
  link.delay_ms = 1;
  return LatencyEstimator(space, test::random_profile(space, 11, 0.5, 4.0), test::random_profile(space, 12, 0.05, 0.4),
                          link, Encoding::Int8);
}

std::vector<Arch> every_arch(const Space& space) {
  std::vector<Arch> all{Arch(size_t(space.num_layers()), 0)};
  for (int l = 0; l < space.num_layers(); ++l) {
    std::vector<Arch> next;
    for (const Arch& a : all)
      for (int o = 0; o < space.num_ops(); ++o) {
        Arch b = a;
        b[size_t(l)] = o;
        next.push_back(b);
      }
    all = next;
  }
  return all;
}

// A synthetic table: accuracy grows with MACs, with a seeded wobble so that it is not MACs' order.
json synthetic_truth(const Space& space) {
  json j = json::object();
  std::mt19937_64 rng(5);
  for (const Arch& a : every_arch(space))
    j[space.arch_digits(a)] = {{"mean_acc", 50.0 + double(space.macs(a)) / 2e3 + double(rng() % 1000) / 100.0}};
  return j;
}

double min_latency(const LatencyEstimator& est, const Arch& a, int floor) {
  double best = std::numeric_limits<double>::infinity();
  for (int p = floor; p <= est.space().num_blocks(); ++p) best = std::min(best, est.total_ms(a, p));
  return best;
}

TEST(Truth, BestFeasibleEqualsBruteForceOverArchitecturesAndSplits) {
  Space space = small_space();
  LatencyEstimator est = small_estimator(space);
  TruthTable t = TruthTable::from_json(synthetic_truth(space), space, "synthetic");
  ASSERT_EQ(t.size(), 81u);
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (const Arch& a : every_arch(space)) lo = std::min(lo, min_latency(est, a, 1)), hi = std::max(hi, min_latency(est, a, 1));
  int distinct = 0;
  std::string last;
  for (double f : {0.0, 0.2, 0.4, 0.6, 0.8, 1.0}) {
    const double T = lo + f * (hi - lo) + 1e-9;
    double best = -1;
    int64_t feasible = 0;
    for (const Arch& a : every_arch(space)) {
      bool meets = false;
      for (int p = 1; p <= space.num_blocks(); ++p) meets = meets || est.total_ms(a, p) <= T;
      if (!meets) continue;
      ++feasible;
      best = std::max(best, *t.accuracy(a));
    }
    auto got = t.best_feasible(est, T, 1);
    ASSERT_TRUE(got.has_value()) << T;
    EXPECT_DOUBLE_EQ(got->accuracy, best) << T;
    EXPECT_EQ(got->feasible, feasible) << T;
    EXPECT_LE(got->latency.total_ms, T);
    EXPECT_GE(got->latency.split, 1);
    const std::string digits = space.arch_digits(got->arch);
    distinct += digits != last;
    last = digits;
    // judge(): the regret of any answer is the optimum's accuracy minus its own.
    const Arch any = every_arch(space)[17];
    json j = t.judge(any, est, T, 1);
    EXPECT_DOUBLE_EQ(j["regret"].get<double>(), best - *t.accuracy(any));
    EXPECT_EQ(j["best_arch"], digits);
  }
  EXPECT_GE(distinct, 3) << "the thresholds bind: the optimum moves";
  EXPECT_FALSE(t.best_feasible(est, lo * 0.5, 1).has_value());
}

TEST(FreeAnswers, LargestAndMaxMacsFeasibleEqualBruteForce) {
  Space space = small_space();
  LatencyEstimator est = small_estimator(space);
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (const Arch& a : every_arch(space)) lo = std::min(lo, min_latency(est, a, 1)), hi = std::max(hi, min_latency(est, a, 1));
  for (double f : {0.1, 0.3, 0.5, 0.7, 0.9}) {
    const double T = lo + f * (hi - lo);
    double slowest = -1;
    int64_t most = -1;
    for (const Arch& a : every_arch(space)) {
      const double ms = min_latency(est, a, 1);
      if (ms > T) continue;
      slowest = std::max(slowest, ms);
      most = std::max(most, space.macs(a));
    }
    Candidate c;
    ASSERT_TRUE(largest_feasible(est, 1, T, c));
    EXPECT_DOUBLE_EQ(est.best_split(c.arch, 1).total_ms, slowest) << T;
    EXPECT_EQ(c.split, est.best_split(c.arch, 1).split);
    ASSERT_TRUE(max_macs_feasible(est, 1, T, c));
    EXPECT_EQ(space.macs(c.arch), most) << T;
    EXPECT_LE(est.total_ms(c.arch, c.split), T);
    EXPECT_GE(c.split, 1);
  }
  Candidate c;
  EXPECT_FALSE(largest_feasible(est, 1, lo * 0.5, c));
  EXPECT_FALSE(max_macs_feasible(est, 1, lo * 0.5, c));
  // A space too large to enumerate: max-flops-feasible is a dynamic programme, largest-feasible refuses.
  Space fmnist(SpaceConfig::preset("fmnist"));
  LatencyEstimator big(fmnist, test::random_profile(fmnist, 3, 0.1, 2.0), test::random_profile(fmnist, 4, 0.01, 0.2),
                       LinkModel{}, Encoding::Int8);
  const double T = big.oracle(1).latency.total_ms * 1.5;
  ASSERT_TRUE(max_macs_feasible(big, 1, T, c));
  EXPECT_LE(big.total_ms(c.arch, c.split), T);
  EXPECT_GT(fmnist.macs(c.arch), fmnist.macs(big.oracle(1).arch));
  EXPECT_NE(error_of([&] { largest_feasible(big, 1, T, c); }).find("expected at most"), std::string::npos);
}

TEST(FreeAnswers, StrategiesNeedNoImagesAndAreJudgedByTheTruth) {
  Space space = small_space();
  LatencyEstimator est = small_estimator(space);
  TruthTable t = TruthTable::from_json(synthetic_truth(space), space, "synthetic");
  const double T = est.oracle(1).latency.total_ms * 2;
  for (const char* name : {"largest-feasible", "max-flops-feasible"}) {
    SearchRequest req;
    req.strategy = Strategy::parse(name, space);
    EXPECT_FALSE(req.strategy.trains());
    req.max_latency_ms = T;
    req.truth = &t;
    json r = run_strategy(req, space, est, ImageSet{}, torch::kCPU, "", false);
    EXPECT_EQ(r["strategy"], name);
    EXPECT_TRUE(r["feasible"].get<bool>());
    const Arch a = space.parse_arch(r["arch"].get<std::string>());
    EXPECT_DOUBLE_EQ(r["truth"]["true_acc"].get<double>(), *t.accuracy(a));
    EXPECT_DOUBLE_EQ(r["truth"]["regret"].get<double>(), t.best_feasible(est, T, 1)->accuracy - *t.accuracy(a));
    EXPECT_GE(r["truth"]["regret"].get<double>(), 0.0);
  }
}

// The table-driven optimisers run on the small space, its estimator and a synthetic truth.
class TableSearch : public ::testing::Test {
 protected:
  Space space = small_space();
  LatencyEstimator est = small_estimator(space);
  TruthTable t = TruthTable::from_json(synthetic_truth(space), space, "synthetic");
};

// The table-driven optimisers: with an exact proxy, enough evaluations find the optimum; ASNG at a moderate
// budget beats random search at a small one; the noise that makes a proxy of a given tau has that tau.
TEST_F(TableSearch, OptimisersFindTheTableOptimumWithAnExactProxy) {
  TableProblem prob;
  prob.max_latency_ms = est.oracle(1).latency.total_ms * 1.6;
  ASSERT_GE(t.best_feasible(est, prob.max_latency_ms, 1)->feasible, 10);
  double asng_regret = 0, random8_regret = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    TableSearchResult r = table_random(t, est, prob, 8, seed);
    EXPECT_EQ(r.evaluations, 8);
    EXPECT_LE(est.total_ms(r.answer.arch, r.answer.split), prob.max_latency_ms);
    random8_regret += r.regret / 20;
    EXPECT_DOUBLE_EQ(table_random(t, est, prob, 3000, seed).regret, 0.0) << seed;
    TableSearchResult e = table_evolution(t, est, prob, 400, 10, 3, seed);
    EXPECT_DOUBLE_EQ(e.regret, 0.0) << seed;
    EXPECT_EQ(e.evaluations, 400);
    TableSearchResult a = table_asng(t, est, prob, 200, TableAsngOptions{4}, seed);
    EXPECT_LE(a.evaluations, 203);
    EXPECT_LE(est.total_ms(a.answer.arch, a.answer.split), prob.max_latency_ms);
    EXPECT_GE(a.regret, 0.0);
    asng_regret += a.regret / 20;
  }
  EXPECT_LT(asng_regret, random8_regret) << "ASNG with 200 exact evaluations against random search with 8";
}

// The feasible ranking (samples drawn from theta within the feasible set, ranked by score alone) is what nasc search
// uses: on the table, with a tight threshold that few free samples meet, it must end nearer the optimum than the
// paper's feasible-first ranking with the same evaluations, and every sample it scores must meet T.
TEST_F(TableSearch, FeasibleRankingBeatsThePapersRankingUnderATightThreshold) {
  TableProblem prob;
  prob.max_latency_ms = est.oracle(1).latency.total_ms * 1.3;
  ASSERT_GE(t.best_feasible(est, prob.max_latency_ms, 1)->feasible, 5);
  TableAsngOptions paper, feasible;
  feasible.feasible_sampling = true;
  EXPECT_EQ(feasible.name(), "asng+fs");
  double paper_regret = 0, feasible_regret = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    paper_regret += table_asng(t, est, prob, 60, paper, seed).regret / 20;
    const TableSearchResult r = table_asng(t, est, prob, 60, feasible, seed);
    EXPECT_LE(r.evaluations, 61);
    EXPECT_LE(est.total_ms(r.answer.arch, r.answer.split), prob.max_latency_ms);
    feasible_regret += r.regret / 20;
  }
  EXPECT_LT(feasible_regret, paper_regret) << "feasible " << feasible_regret << " against paper " << paper_regret;
}

TEST_F(TableSearch, NoiseForATauGivesThatTauAndIsFixedPerNetwork) {
  TableProblem prob;
  prob.max_latency_ms = est.oracle(1).latency.total_ms * 3;
  prob.noise_seed = 9;
  for (double tau : {0.3, 0.6}) {
    const double sd = noise_for_tau(t, est, prob, tau);
    EXPECT_GT(sd, 0);
    std::vector<double> truth_acc, noisy;
    for (const Arch& a : t.archs()) {
      if (est.best_split(a, 1).total_ms > prob.max_latency_ms) continue;
      truth_acc.push_back(*t.accuracy(a));
      noisy.push_back(truth_acc.back() + sd * proxy_noise(space, a, prob.noise_seed));
      EXPECT_EQ(proxy_noise(space, a, prob.noise_seed), proxy_noise(space, a, prob.noise_seed));
    }
    ASSERT_GE(truth_acc.size(), 20u);
    EXPECT_NEAR(kendall_tau(truth_acc, noisy), tau, 0.02) << sd;
    TableProblem p = prob;
    p.noise_sd = sd;
    // Two searches with the same noise seed score alike: the same answer.
    EXPECT_EQ(table_random(t, est, p, 30, 4).answer.arch, table_random(t, est, p, 30, 4).answer.arch);
  }
  EXPECT_EQ(noise_for_tau(t, est, prob, 1.0), 0.0);
  EXPECT_NE(error_of([&] { noise_for_tau(t, est, prob, 0.0); }).find("expected 0 < tau <= 1"), std::string::npos);
  EXPECT_NE(error_of([&] { table_random(t, est, prob, 0, 1); }).find("at least 1"), std::string::npos);
}

// bench_table_search names its variants as name() writes them: every name reads back as its options, and a
// name it does not know is refused with what it expected.
TEST_F(TableSearch, VariantNamesReadBackAsTheirOptions) {
  TableAsngOptions o;
  o.lambda = 4;
  o.tie_infeasible = o.feasible_sampling = o.best_seen = true;
  o.soft_constraint = 2.5;
  o.budget_reward = 0.5;
  EXPECT_EQ(o.name(), "asng-l4+tie+fs+soft2.5+reward0.5+best");
  const TableAsngOptions r = TableAsngOptions::parse(o.name());
  EXPECT_EQ(r.name(), o.name());
  EXPECT_EQ(r.lambda, 4);
  EXPECT_DOUBLE_EQ(r.soft_constraint, 2.5);
  EXPECT_EQ(TableAsngOptions::parse("asng").name(), "asng");
  EXPECT_TRUE(TableAsngOptions::parse("asng+start+bestsplit").start_at_threshold);
  EXPECT_NE(error_of([] { TableAsngOptions::parse("asng+fast"); }).find("unknown '+fast'"), std::string::npos);
  EXPECT_NE(error_of([] { TableAsngOptions::parse("asng+soft"); }).find("needs a weight > 0"), std::string::npos);
  EXPECT_NE(error_of([] { TableAsngOptions::parse("asng-l1"); }).find("expected 2..64"), std::string::npos);
  EXPECT_NE(error_of([] { TableAsngOptions::parse("evolution"); }).find("expected asng followed by"),
            std::string::npos);
}

}  // namespace
}  // namespace nasc

namespace nasc {
namespace {

TEST(RankingQuality, HandComputedTauRhoAndTopPrecision) {
  // Truth 1..8; the estimate swaps the two best and puts the worst network third.
  const std::vector<double> truth = {1, 2, 3, 4, 5, 6, 7, 8};
  const std::vector<double> est = {6.5, 2, 3, 4, 5, 6, 8, 7};
  const RankingQuality q = ranking_quality(est, truth, 0.25);
  EXPECT_EQ(q.networks, 8u);
  // Pairs out of order: (7,8), and network 0 against 1..5 (it sits above them): 6 of 28.
  EXPECT_NEAR(q.kendall_tau, (22.0 - 6.0) / 28.0, 1e-12);
  EXPECT_DOUBLE_EQ(q.top_precision, 1.0);  // top 2 of each: {6, 7}
  EXPECT_DOUBLE_EQ(ranking_quality(est, truth, 0.375).top_precision, 2.0 / 3.0);  // {0,6,7} vs {5,6,7}
  EXPECT_DOUBLE_EQ(ranking_quality(truth, truth, 0.5).spearman, 1.0);
  EXPECT_NE(test::error_of([&] { ranking_quality(est, {1, 2}, 0.1); }).find("8 estimates for 2"), std::string::npos);
}

// Overall order from latency alone, none within a band: the bands must show it, the overall figure hides it.
TEST(RankingQuality, LatencyBandsSeeWhatTheOverallFigureHides) {
  std::vector<double> latency, truth, est;
  for (int i = 0; i < 40; ++i) {
    latency.push_back(i);
    truth.push_back(i / 10 * 10 + (i % 10));        // rises with latency and within each band of 10
    est.push_back(i / 10 * 10 + (9 - i % 10));      // rises with latency, reversed within each band
  }
  EXPECT_NEAR(ranking_quality(est, truth, 0.1).kendall_tau, (600.0 - 180.0) / 780.0, 1e-12);  // 600 pairs across bands, 180 within
  const auto bands = ranking_quality_by_latency(est, truth, latency, 4, 0.1);
  ASSERT_EQ(bands.size(), 4u);
  for (const auto& b : bands) {
    EXPECT_EQ(b.networks, 10u);
    EXPECT_DOUBLE_EQ(b.kendall_tau, -1.0);
    EXPECT_DOUBLE_EQ(b.top_precision, 0.0);
  }
  EXPECT_DOUBLE_EQ(bands[1].lo_ms, 10);
  EXPECT_DOUBLE_EQ(bands[1].hi_ms, 19);
  EXPECT_NE(test::error_of([&] { ranking_quality_by_latency(est, truth, latency, 30, 0.1); }).find("at least 2"),
            std::string::npos);
}

}  // namespace
}  // namespace nasc
