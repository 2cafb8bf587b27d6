// The search options' one declaration each: JSON written and read back, fingerprints of older runs kept, values
// checked with errors that name the field, and the fields a resumed search may change.
#include <gtest/gtest.h>

#include <set>

#include "../latency/latency_fixtures.h"
#include "common/error.h"
#include "search/search_options.h"

namespace nasc {
namespace {

using test::error_of;

// Every field at a value other than its default.
SearchOptions all_changed() {
  SearchOptions o;
  o.epochs = 7;
  o.batch_size = 32;
  o.lambda = 4;
  o.lr = 0.1;
  o.momentum = 0.5;
  o.weight_decay = 1e-3;
  o.delta_init = 0.5;
  o.convergence = 0.8;
  o.val_fraction = 0.25;
  o.train_limit = 1000;
  o.eval_limit = 300;
  o.augment = false;
  o.weight_paths = WeightPaths::theta;
  o.fill_budget = 0.6;
  o.feasible_sampling = false;
  o.seed = 99;
  return o;
}

TEST(SearchOptions, EveryFieldReadsBackAsWritten) {
  const SearchOptions o = all_changed();
  // The complete form (every field, as search.json records them) reads back; to_json() leaves out fields at their
  // legacy value, which a config without them reads as today's default.
  EXPECT_EQ(SearchOptions::from_json(o.to_json(true), "options").to_json(true), o.to_json(true));
  EXPECT_NE(o.to_json(true), SearchOptions().to_json(true)) << "all_changed() must change something";
  for (WeightPaths w : {WeightPaths::fair, WeightPaths::theta}) {
    SearchOptions p;
    p.weight_paths = w;
    EXPECT_EQ(SearchOptions::from_json(p.to_json(true), "options").weight_paths, w) << weight_paths_name(w);
  }
  // Every field a config may name is one some option reads, and each option is told apart by one field at least.
  std::set<std::string> fields;
  for (const std::string& f : SearchOptions::field_names()) EXPECT_TRUE(fields.insert(f).second) << f << " twice";
  const json every = SearchOptions().to_json(true);
  for (auto& [k, v] : every.items()) EXPECT_TRUE(fields.count(k)) << k;
  EXPECT_EQ(fields.size(), every.size());
}

// A search made before any variant option existed wrote exactly these fields, and its experiment folders are
// resumed by comparing them: with every variant at the value those runs had, nothing else may be written.
TEST(SearchOptions, OptionsAtTheirLegacyValuesKeepOlderFingerprints) {
  SearchOptions o;
  o.weight_paths = WeightPaths::theta;
  o.feasible_sampling = false;
  o.fill_budget = 0;
  std::set<std::string> keys;
  const json j = o.to_json();
  for (auto& [k, v] : j.items()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"augment", "batch_size", "convergence", "delta_init", "epochs", "eval_limit",
                                         "lambda", "lr", "momentum", "seed", "train_limit", "val_fraction",
                                         "weight_decay"}));
  const json today = SearchOptions().to_json();
  EXPECT_EQ(today["fair_sampling"], true) << "today's defaults are written, so older runs differ from them";
  EXPECT_EQ(today["feasible_sampling"], true);
}

TEST(SearchOptions, BadValuesAreRefusedNamingTheFieldAndWhatWasExpected) {
  auto refused = [](const json& j) { return error_of([&] { SearchOptions::from_json(j, "cfg.json search"); }); };
  EXPECT_NE(refused({{"lambda", 1}}).find("cfg.json search: lambda = 1: expected 2..64"), std::string::npos);
  EXPECT_NE(refused({{"lr", 0}}).find("lr = 0: expected > 0"), std::string::npos);
  EXPECT_NE(refused({{"epoch", 3}}).find("unknown field 'epoch'"), std::string::npos);
  EXPECT_NE(refused({{"epochs", "many"}}).find("field 'epochs' holds \"many\""), std::string::npos);
  EXPECT_NE(refused({{"seed", -1}}).find("expected a whole number >= 0"), std::string::npos);
  // Options the truth measured and the search dropped are refused by name, not silently ignored.
  EXPECT_NE(refused({{"warmup_epochs", 1}}).find("removed option 'warmup_epochs' = 1: only the value that turned it "
                                                 "off (0"),
            std::string::npos);
  EXPECT_NE(refused({{"zero_init_residual", true}}).find("removed option 'zero_init_residual' = true"),
            std::string::npos);
  EXPECT_NE(refused({{"uniform_weights", true}}).find("removed option 'uniform_weights'"), std::string::npos);
  // ... but the value at which they did nothing, as older search.json files list them, reads as today's search.
  const json old_record = {{"uniform_weights", false}, {"warmup_epochs", 0},   {"zero_init_residual", false},
                           {"budget_reward", 0.0},     {"best_split", false}, {"epochs", 3}};
  EXPECT_EQ(SearchOptions::from_json(old_record, "search.json options").to_json(true),
            SearchOptions::from_json({{"epochs", 3}}, "options").to_json(true));
  EXPECT_NE(refused(json::array()).find("expected an object"), std::string::npos);
  // A flag's text goes through the same declaration.
  SearchOptions o;
  auto parsed = [&](const std::string& name, const std::string& text) {
    for (const SearchOption& d : search_options())
      if (d.name == name) return error_of([&] { d.parse(o, text, "--" + d.flag); });
    return std::string("no option ") + name;
  };
  EXPECT_NE(parsed("lambda", "x").find("--lambda 'x': expected 2..64"), std::string::npos);
  EXPECT_NE(parsed("lambda", "3.5").find("--lambda '3.5'"), std::string::npos);
  EXPECT_NE(parsed("lambda", "70").find("--lambda = 70: expected 2..64"), std::string::npos);
  EXPECT_NE(parsed("feasible_sampling", "greedy").find("--ranking 'greedy': expected feasible or paper"),
            std::string::npos);
  EXPECT_NE(parsed("weight_paths", "all").find("expected fair or theta"), std::string::npos);
  EXPECT_EQ(parsed("lambda", "6"), "");
  EXPECT_EQ(o.lambda, 6);
  EXPECT_EQ(parsed("feasible_sampling", "paper"), "");
  EXPECT_FALSE(o.feasible_sampling);
  EXPECT_EQ(parsed("seed", "18446744073709551615"), "");
  EXPECT_EQ(o.seed, UINT64_MAX);
}

// What a finished search may be resumed with: more epochs, and the options that choose its answer.
TEST(SearchOptions, OnlyEpochsAndSelectionMayChangeOnResume) {
  std::set<std::string> free;
  const json all = SearchOptions().to_json(true), kept = SearchOptions::training_fields(all);
  for (auto& [k, v] : all.items())
    if (!kept.contains(k)) free.insert(k);
  EXPECT_EQ(free, (std::set<std::string>{"epochs", "eval_limit", "fill_budget"}));
}

}  // namespace
}  // namespace nasc
