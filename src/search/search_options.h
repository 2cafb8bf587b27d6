// The budget and hyper-parameters of a supernet search, each declared once (search_options()): that declaration
// is what configs and results read and write, what `nasc search` offers as a flag with its --help, how a value is
// checked, and whether a finished search may be resumed with another value.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/json_io.h"

namespace nasc {

// The paths a weight step trains. fair: every op of every layer once per step, on num_ops paths (FairNAS's strict
// fairness), the split still drawn from theta; the default, since with paths drawn from theta the ops theta samples
// least (under a tight T the heavy ones) train least, lose the next comparisons and collapse the search to `skip`
// (results/nbmacro-search-fair). theta: lambda paths drawn from theta, the paper's. (Uniform paths, 8-11 points of
// regret on the truth where fair paths had 0.9-7, were removed.)
enum class WeightPaths { fair, theta };
const char* weight_paths_name(WeightPaths w);
// "fair" or "theta"; anything else throws Error naming `what` and the two.
WeightPaths parse_weight_paths(const std::string& name, const std::string& what);

// What each field does is in its declaration's help (search_options.cpp, printed by `nasc search --help`).
struct SearchOptions {
  int epochs = 10;
  int batch_size = 128;
  int lambda = 2;
  double lr = 0.05;
  double momentum = 0.9;
  double weight_decay = 4e-5;
  double delta_init = 1.0;
  double convergence = 0.9;
  double val_fraction = 0.5;
  int64_t train_limit = 0;  // 0 = all
  int64_t eval_limit = 5000;
  bool augment = true;
  WeightPaths weight_paths = WeightPaths::fair;
  double fill_budget = 0.9;  // chosen on the NAS-Bench-Macro truth (docs/findings.md)
  bool feasible_sampling = true;  // --ranking feasible (true) or paper (false)
  uint64_t seed = 1;

  // Every option's JSON; an option that did not exist in earlier runs is left out while it has the value those
  // runs had (its `legacy`), so that their fingerprints stay equal. every: all of them.
  json to_json(bool every = false) const;
  // The options `j` names, over defaults (from_json) or over these (apply_json); an unknown field, a value of the
  // wrong type or out of range throws Error naming `context`, the field and what was expected.
  static SearchOptions from_json(const json& j, const std::string& context);
  void apply_json(const json& j, const std::string& context);
  // Every JSON field an option reads: what a config may name.
  static std::vector<std::string> field_names();
  // Options JSON (to_json's) without the fields that may change when a search resumes (resume_free): what a
  // checkpoint and the search resuming it must agree on.
  static json training_fields(json options);
  void validate() const;
};

// One option. Its flag is --name with '-' for '_' unless `flag` says otherwise; its JSON fields are `keys`
// (usually just the name; the weight paths and the ranking keep the boolean fields they had before).
struct SearchOption {
  std::string name, flag, help;
  std::string values;        // what a value must be, as errors and --help say it: "2..64", "fair or theta"
  bool is_flag = false;      // a bool that the bare flag sets
  bool resume_free = false;  // may differ when a finished search is resumed (it chooses the answer, or adds epochs)
  std::vector<std::string> keys;
  std::function<void(const SearchOptions&, json&, bool every)> write;
  std::function<void(SearchOptions&, const json&, const std::string& context)> read;  // called when a key is there
  std::function<void(SearchOptions&, const std::string& text, const std::string& context)> parse;  // a flag's text
  std::function<std::string(const SearchOptions&)> show;  // the value as text, e.g. for --help's default
};
const std::vector<SearchOption>& search_options();

}  // namespace nasc
