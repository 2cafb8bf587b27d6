// How well the weight-sharing supernet ranks networks: a supernet trained with uniformly sampled paths scores N
// architectures spread over the latency range on held-out images; each is then retrained from scratch and
// scored on the test set; Kendall's tau and Spearman's rho between the two accuracies are printed and written
// with every row. This is how one-shot NAS is judged: the search can only pick well what the supernet ranks well.
// Resumable (supernet checkpoint and each retraining in --out). Run:
//   build/bench_supernet_ranking --space fmnist --epochs 8 --archs 16 --retrain-epochs 2 --out results/supernet-ranking
// With --truth TABLE (a space with known true accuracies, e.g. nbmacro), nothing is retrained: --archs networks of
// the table (0 = all) are scored by the supernet and ranked against the table, overall and within latency bands.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "common/csv.h"
#include "common/error.h"
#include "common/json_io.h"
#include "common/stats.h"
#include "data/data_spec.h"
#include "nn/device.h"
#include "search/budget.h"
#include "search/feasible.h"
#include "search/supernet_search.h"
#include "search/truth.h"
#include "train/trainer.h"

using namespace nasc;
namespace fs = std::filesystem;

namespace {

struct Args {
  std::string space = "fmnist", data = "fmnist", profile_dir = "profiles", out = "runs/supernet-ranking";
  std::string archs_from;  // a ranking.csv whose networks are ranked instead of drawing new ones
  std::string truth;       // a table of true accuracies: rank against it instead of retraining
  int bands = 5;
  double top_fraction = 0.05;
  int epochs = 8, archs = 16, retrain_epochs = 2, retrain_seeds = 1, threads = 0;
  int64_t train_limit = 0, retrain_limit = 0, score_images = 2000;
  uint64_t seed = 1;
  int lambda = 2;
  double lr = 0;  // 0: the quick budget's
  bool fair = false;
};

// N distinct architectures whose latencies spread from the floor to the largest network: the i-th is drawn
// among those meeting floor + (i + 0.5) / N x (largest - floor), so each band of the range gets one.
std::vector<Arch> spread_architectures(const LatencyEstimator& latency, int n, uint64_t seed) {
  const Space& space = latency.space();
  const int B = space.num_blocks();
  std::vector<bool> device_only(size_t(B + 1), false);
  device_only.back() = true;
  const double floor = latency.oracle(B).latency.total_ms, top = largest_network_ms(latency, B);
  std::mt19937_64 rng(seed);
  std::vector<Arch> out;
  std::set<Arch> seen;
  for (int i = 0; i < n; ++i) {
    const double t = threshold_between(floor, top, (i + 0.5) / n);
    Candidate c;
    for (int tries = 0; tries < 100; ++tries)
      if (sample_feasible(latency, device_only, t, rng, c) && seen.insert(c.arch).second) break;
    out.push_back(c.arch);
  }
  return out;
}

// The supernet's score of table networks against their true accuracy, ranked two ways: by the held-out accuracy
// and by the held-out loss (what theta's ranking and random:N use), which does not round each image to
// right or wrong. Scores are kept in truth-ranking.csv as they come (every 50 networks), so an
// interrupted run resumes where it stopped; a file from before the loss column has its networks scored again.
int rank_against_truth(const Args& a, const Space& space, const LatencyEstimator& latency, SupernetSearch& search,
                       const SearchState& st) {
  const TruthTable truth = TruthTable::load(a.truth, space);
  std::vector<Arch> archs = truth.archs();
  std::mt19937_64 rng(a.seed);
  std::shuffle(archs.begin(), archs.end(), rng);
  if (a.archs > 0 && size_t(a.archs) < archs.size()) archs.resize(size_t(a.archs));

  const std::string csv_path = (fs::path(a.out) / "truth-ranking.csv").string();
  std::map<std::string, std::pair<double, double>> scored;  // digits -> (loss, accuracy)
  if (fs::exists(csv_path)) {
    const CsvTable t = read_csv_file(csv_path);
    if (std::find(t.header.begin(), t.header.end(), "supernet_val_loss") != t.header.end()) {
      const int ac = t.column("arch"), sc = t.column("supernet_val_acc"), lc = t.column("supernet_val_loss");
      for (const auto& row : t.rows) scored[row[size_t(ac)]] = {std::stod(row[size_t(lc)]), std::stod(row[size_t(sc)])};
    }
  }
  std::vector<double> by_acc, by_loss, acc, lat;
  std::string csv = "arch,latency_ms,supernet_val_acc,supernet_val_loss,true_acc\n";
  const auto start = std::chrono::steady_clock::now();
  size_t fresh = 0;
  for (size_t i = 0; i < archs.size(); ++i) {
    const std::string digits = space.arch_digits(archs[i]);
    auto it = scored.find(digits);
    const auto [loss, score] = it != scored.end() ? it->second
                                                  : (++fresh, search.validate({archs[i], space.num_blocks()}, a.score_images));
    by_acc.push_back(score);
    by_loss.push_back(-loss);  // higher is better, as for accuracy
    acc.push_back(*truth.accuracy(archs[i]));
    lat.push_back(latency.total_ms(archs[i], space.num_blocks()));
    csv += cat(digits, ",", lat.back(), ",", score, ",", loss, ",", acc.back(), "\n");
    if ((i + 1) % 50 == 0 || i + 1 == archs.size()) {
      write_text_atomic(csv_path, csv);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::fprintf(stderr, "[%zu/%zu] scored %zu new networks in %.0f s; Kendall tau so far %.3f (by loss %.3f)\n",
                   i + 1, archs.size(), fresh, s, kendall_tau(by_acc, acc), kendall_tau(by_loss, acc));
    }
  }
  struct Ranked {
    RankingQuality overall;
    std::vector<RankingQuality> bands;
    json to_json() const {
      json b = json::array();
      for (const auto& q : bands) b.push_back(q.to_json());
      return {{"overall", overall.to_json()}, {"latency_bands", b}};
    }
  };
  auto rank = [&](const std::vector<double>& est) {
    return Ranked{ranking_quality(est, acc, a.top_fraction),
                  ranking_quality_by_latency(est, acc, lat, a.bands, a.top_fraction)};
  };
  const Ranked ra = rank(by_acc), rl = rank(by_loss);
  json summary = {
      {"space", space.name()},
      {"data", a.data},
      {"truth", a.truth},
      {"latency_profile", a.profile_dir + "/cpu2-" + space.name() + ".json"},
      {"supernet", {{"epochs", a.epochs}, {"train_limit", a.train_limit}, {"lambda", a.lambda}, {"lr", a.lr},
                    {"fair", a.fair}, {"seed", a.seed},
                    {"final_val_acc_of_sampled_paths", st.history.empty() ? 0.0 : st.history.back().val_acc},
                    {"seconds", st.seconds}}},
      {"scored_on_validation_images", search.validation_images(a.score_images)},
      {"top_fraction", a.top_fraction},
      {"by_loss", rl.to_json()},
      {"latency_vs_true_kendall_tau", kendall_tau(lat, acc)},
      {"versions", library_versions()}};
  summary.update(ra.to_json());  // "overall" and "latency_bands": by accuracy, as files before "by_loss" hold
  write_json_atomic((fs::path(a.out) / "truth-ranking.json").string(), summary);
  std::printf("%zu networks of %s against %s (latency alone: tau %.3f)\n", by_acc.size(), space.name().c_str(),
              a.truth.c_str(), kendall_tau(lat, acc));
  for (const auto& [name, r] : {std::pair<const char*, const Ranked&>{"accuracy", ra}, {"loss", rl}}) {
    std::printf("scored by held-out %s: Kendall tau %.3f, Spearman %.3f, top-%.0f%% precision %.3f\n", name,
                r.overall.kendall_tau, r.overall.spearman, 100 * a.top_fraction, r.overall.top_precision);
    for (const auto& b : r.bands)
      std::printf("  latency %8.3f-%8.3f ms  %5zu networks  tau %6.3f  Spearman %6.3f  top precision %.3f\n",
                  b.lo_ms, b.hi_ms, b.networks, b.kendall_tau, b.spearman, b.top_precision);
  }
  std::printf("%s, %s/truth-ranking.json\n", csv_path.c_str(), a.out.c_str());
  return 0;
}

int run(const Args& a) {
  torch::Device device = select_device("auto", a.threads);
  Space space(SpaceConfig::load(a.space));
  HardwareProfile profile = HardwareProfile::load(a.profile_dir + "/cpu2-" + space.name() + ".json");
  LatencyEstimator latency(space, profile, profile, LinkModel{}, Encoding::Fp32);
  TrainTest data = load_train_test(DataSpec::parse(a.data), space.input_shape().h, space.input_shape().w);
  fs::create_directories(a.out);

  // The supernet as every strategy trains it before theta adapts: uniform paths, no cut, weights only.
  SearchProblem uniform;
  uniform.allowed_splits.assign(size_t(space.num_blocks() + 1), false);
  uniform.allowed_splits.back() = true;
  uniform.adapt = false;
  uniform.quantize = false;
  SearchOptions so = budget_options("quick");
  so.epochs = a.epochs;
  so.train_limit = a.train_limit;
  so.seed = a.seed;
  so.lambda = a.lambda;
  if (a.lr > 0) so.lr = a.lr;
  so.weight_paths = a.fair ? WeightPaths::fair : WeightPaths::theta;
  SupernetSearch search(space, latency, uniform, so, device);
  SearchState st = search.run(data.train, (fs::path(a.out) / "supernet").string(), true);
  if (!a.truth.empty()) return rank_against_truth(a, space, latency, search, st);
  if (a.archs < 3) fail("--archs ", a.archs, ": expected at least 3 networks to retrain and rank");

  std::vector<Arch> archs;
  if (a.archs_from.empty()) {
    archs = spread_architectures(latency, a.archs, a.seed);
  } else {
    CsvTable t = read_csv_file(a.archs_from);
    const int col = t.column("arch");
    for (size_t r = 0; r < t.rows.size(); ++r) {
      try {
        archs.push_back(space.parse_arch(t.rows[r][size_t(col)]));
      } catch (const Error& e) {
        fail(a.archs_from, " line ", t.lines[r], ": ", e.what());
      }
    }
    if (archs.size() < 3) fail(a.archs_from, ": ", archs.size(), " architectures, expected at least 3 to rank");
  }
  TrainOptions to;
  to.epochs = a.retrain_epochs;
  to.train_limit = a.retrain_limit;
  std::vector<double> one_shot, retrained, lat;
  std::vector<std::vector<double>> by_seed(size_t(a.retrain_seeds));  // [k][i]: seed a.seed + k, network i
  std::string csv = "index,arch,latency_ms,supernet_val_acc,retrained_test_acc,retrain_seconds,retrained_by_seed\n";
  for (size_t i = 0; i < archs.size(); ++i) {
    Candidate c{archs[i], space.num_blocks()};
    const double acc_one_shot = search.validate(c, a.score_images).second;
    double sum = 0, seconds = 0;
    std::string seeds_text;
    for (int k = 0; k < a.retrain_seeds; ++k) {
      to.seed = a.seed + uint64_t(k);
      // The first seed's folder keeps its old name, so retrainings of earlier runs are reused.
      const fs::path dir = fs::path(a.out) / "retrain" / (std::to_string(i) + (k ? cat("-seed", to.seed) : ""));
      TrainResult tr = Trainer(space, archs[i], to, device).run(data, dir.string(), true);
      by_seed[size_t(k)].push_back(tr.test_accuracy);
      sum += tr.test_accuracy;
      seconds += tr.seconds;
      seeds_text += cat(k ? ";" : "", tr.test_accuracy);
    }
    one_shot.push_back(acc_one_shot);
    retrained.push_back(sum / a.retrain_seeds);
    lat.push_back(latency.total_ms(archs[i], space.num_blocks()));
    csv += cat(i, ",\"", space.format_arch(archs[i]), "\",", lat.back(), ",", acc_one_shot, ",", retrained.back(),
               ",", seconds, ",", seeds_text, "\n");
    std::fprintf(stderr, "[%zu/%zu] %s  %.3f ms  supernet %.4f  retrained %.4f\n", i + 1, archs.size(),
                 space.format_arch(archs[i]).c_str(), lat.back(), acc_one_shot, retrained.back());
  }
  // How well one retraining orders the networks like another: what a supernet's tau against a single retraining
  // can reach at best.
  std::vector<double> seed_taus;
  for (size_t k = 0; k < by_seed.size(); ++k)
    for (size_t m = k + 1; m < by_seed.size(); ++m) seed_taus.push_back(kendall_tau(by_seed[k], by_seed[m]));
  double seed_tau = 0;
  for (double t : seed_taus) seed_tau += t / double(seed_taus.size());
  const double tau = kendall_tau(one_shot, retrained), rho = spearman(one_shot, retrained);
  json summary = {{"space", space.name()},
                  {"data", a.data},
                  {"supernet", {{"epochs", a.epochs}, {"train_limit", a.train_limit}, {"sampling", a.fair ? "fair (every op once per step)" : "uniform"},
                                {"lambda", a.fair ? space.num_ops() : a.lambda}, {"lr", so.lr},
                                {"final_val_acc_of_sampled_paths", st.history.empty() ? 0.0 : st.history.back().val_acc},
                                {"seconds", st.seconds}}},
                  {"scored_on_validation_images", a.score_images},
                  {"retrain", to.to_json()},
                  {"architectures", archs.size()},
                  {"kendall_tau", tau},
                  {"spearman", rho},
                  {"retrain_seeds", a.retrain_seeds},
                  {"kendall_tau_between_retrain_seeds", seed_taus.empty() ? json(nullptr) : json(seed_tau)},
                  {"latency_vs_retrained_spearman", spearman(lat, retrained)},
                  {"versions", library_versions()}};
  write_text_atomic((fs::path(a.out) / "ranking.csv").string(), csv);
  write_json_atomic((fs::path(a.out) / "ranking.json").string(), summary);
  std::printf("%zu architectures of %s: Kendall tau %.3f, Spearman %.3f between supernet and retrained accuracy "
              "(latency vs retrained accuracy: Spearman %.3f); %s/ranking.csv\n",
              archs.size(), space.name().c_str(), tau, rho, spearman(lat, retrained), a.out.c_str());
  if (!seed_taus.empty())
    std::printf("Kendall tau between the %d seeds' retrainings (mean over pairs): %.3f\n", a.retrain_seeds, seed_tau);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Supernet ranking quality: Kendall tau between one-shot and retrained accuracy"};
  Args a;
  app.add_option("--space", a.space, "Space preset or JSON file")->capture_default_str();
  app.add_option("--data", a.data, "Data set (as nasc search --data)")->capture_default_str();
  app.add_option("--profiles", a.profile_dir, "Folder with cpu2-SPACE.json (spreads the architectures by latency)")
      ->capture_default_str();
  app.add_option("--epochs", a.epochs, "Supernet epochs (uniform path sampling)")->capture_default_str();
  app.add_option("--train-limit", a.train_limit, "Supernet training images (0 = all)")->capture_default_str();
  auto* archs = app.add_option("--archs", a.archs,
                               "Architectures to draw and rank (with --truth: table networks, 0 = all of them)")
                    ->check(CLI::Range(0, 1000000))
                    ->capture_default_str();
  app.add_option("--archs-from", a.archs_from,
                 "Rank the networks of this ranking.csv (its arch column) instead of drawing --archs new ones, e.g. "
                 "to compare supernet recipes on the same retrained networks")
      ->excludes(archs);
  app.add_option("--truth", a.truth,
                 "Table of true accuracies of the space (e.g. truth/nas-bench-macro-cifar10.json): rank the supernet's "
                 "scores against it, overall and within latency bands, instead of retraining")
      ->excludes(app.get_option("--archs-from"));
  app.add_option("--bands", a.bands, "With --truth: latency bands of equal counts to rank within")
      ->check(CLI::Range(1, 100))->capture_default_str();
  app.add_option("--top-fraction", a.top_fraction, "With --truth: top-k precision over this fraction of the networks")
      ->check(CLI::Range(0.001, 1.0))->capture_default_str();
  app.add_option("--score-images", a.score_images, "Held-out images each supernet score uses")->capture_default_str();
  app.add_option("--retrain-epochs", a.retrain_epochs, "Epochs of each stand-alone retraining")->capture_default_str();
  app.add_option("--retrain-seeds", a.retrain_seeds,
                 "Retrain each network with this many seeds (--seed, --seed + 1, ...) and rank against the mean; "
                 "with 2 or more, also reports Kendall tau between the seeds' retrainings (the noise ceiling)")
      ->check(CLI::Range(1, 16))->capture_default_str();
  app.add_option("--retrain-limit", a.retrain_limit, "Retraining images (0 = all)")->capture_default_str();
  app.add_option("--lambda", a.lambda, "Uniform paths per weight step")->check(CLI::Range(2, 64))->capture_default_str();
  app.add_option("--lr", a.lr, "Supernet learning rate (0 = the quick budget's)")->capture_default_str();
  app.add_flag("--fair", a.fair, "Train every op of every layer once per step (FairNAS), not --lambda uniform paths");
  app.add_option("--seed", a.seed, "Seed of supernet, sampling and retraining")->capture_default_str();
  app.add_option("--threads", a.threads, "CPU threads (0 = all)")->capture_default_str();
  app.add_option("--out", a.out, "Directory: supernet/, retrain/N/, ranking.csv, ranking.json")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    return run(a);
  } catch (const std::exception& e) {  // nasc::Error, and a malformed number in a resumed truth-ranking.csv
    std::fprintf(stderr, "bench_supernet_ranking: %s\n", e.what());
    return 2;
  }
}
