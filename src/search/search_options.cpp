#include "search/search_options.h"

#include <charconv>
#include <limits>
#include <optional>
#include <set>

#include "common/csv.h"
#include "common/error.h"

namespace nasc {

const char* weight_paths_name(WeightPaths w) {
  switch (w) {
    case WeightPaths::fair: return "fair";
    case WeightPaths::theta: return "theta";
  }
  return "?";
}

WeightPaths parse_weight_paths(const std::string& name, const std::string& what) {
  for (WeightPaths w : {WeightPaths::fair, WeightPaths::theta})
    if (name == weight_paths_name(w)) return w;
  fail(what, " '", name, "': expected fair or theta");
}

namespace {

// A flag's text as a T, or nullopt: whole numbers must be whole and fit T, numbers finite (parse_number).
template <typename T>
std::optional<T> from_text(const std::string& text) {
  if constexpr (std::is_floating_point_v<T>) {
    return parse_number(text);
  } else {
    T v{};
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, v);
    if (ec != std::errc() || ptr != end) return std::nullopt;
    return v;
  }
}

template <typename T>
T from_json_value(const json& j, const std::string& key, const std::string& context) {
  if constexpr (std::is_same_v<T, uint64_t>) {  // the seed: JSON numbers are read as signed 64-bit values
    const int64_t v = json_get<int64_t>(j, key.c_str(), context);
    if (v < 0) fail(context, ": ", key, " = ", v, ": expected a whole number >= 0");
    return uint64_t(v);
  } else {
    return json_get<T>(j, key.c_str(), context);
  }
}

// A number option: `ok` says whether a value is allowed and `values` how the error says what is. legacy: the value
// runs had before the option existed (written only when it differs); none: always written.
template <typename T>
SearchOption number(const char* name, T SearchOptions::*m, const char* values, std::function<bool(T)> ok,
                    std::string help, std::optional<T> legacy = std::nullopt) {
  SearchOption o;
  o.name = name;
  o.values = values;
  o.help = std::move(help);
  o.keys = {name};
  auto set = [=](SearchOptions& s, T v, const std::string& where) {
    if (!ok(v)) fail(where, " = ", v, ": expected ", values);
    s.*m = v;
  };
  o.write = [=](const SearchOptions& s, json& j, bool every) {
    if (every || !legacy || s.*m != *legacy) j[name] = s.*m;
  };
  o.read = [=](SearchOptions& s, const json& j, const std::string& context) {
    set(s, from_json_value<T>(j, name, context), cat(context, ": ", name));
  };
  o.parse = [=](SearchOptions& s, const std::string& text, const std::string& flag) {
    const std::optional<T> v = from_text<T>(text);
    if (!v) fail(flag, " '", text, "': expected ", values);
    set(s, *v, flag);
  };
  o.show = [=](const SearchOptions& s) { return cat(s.*m); };
  return o;
}

// A true/false option; `flag` names the flag when it is not --name, `word_true`/`word_false` its two values when
// the flag takes words instead of being bare (--ranking feasible|paper).
SearchOption boolean(const char* name, bool SearchOptions::*m, std::string help, std::optional<bool> legacy) {
  SearchOption o;
  o.name = name;
  o.values = "true or false";
  o.is_flag = true;
  o.help = std::move(help);
  o.keys = {name};
  o.write = [=](const SearchOptions& s, json& j, bool every) {
    if (every || !legacy || s.*m != *legacy) j[name] = s.*m;
  };
  o.read = [=](SearchOptions& s, const json& j, const std::string& context) {
    s.*m = json_get<bool>(j, name, context);
  };
  o.parse = [=](SearchOptions& s, const std::string& text, const std::string& flag) {
    if (text == "true" || text == "1") s.*m = true;
    else if (text == "false" || text == "0") s.*m = false;
    else fail(flag, " '", text, "': expected true or false");
  };
  o.show = [=](const SearchOptions& s) { return std::string(s.*m ? "true" : "false"); };
  return o;
}

template <typename T>
std::function<bool(T)> within(T lo, T hi) {
  return [=](T v) { return v >= lo && v <= hi; };
}

// The weight paths keep the field they were before the enum, so that fingerprints of earlier runs stay equal:
// fair_sampling, written while true. (uniform_weights, the removed uniform paths, is an unknown field now.)
SearchOption weight_paths_option() {
  SearchOption o;
  o.name = "weight_paths";
  o.flag = "weight-paths";
  o.values = "fair or theta";
  o.help = "The paths a weight step trains: fair (every op of every layer once, FairNAS's strict fairness) or theta "
           "(lambda samples of theta, the paper's)";
  o.keys = {"fair_sampling"};
  o.write = [](const SearchOptions& s, json& j, bool every) {
    if (every || s.weight_paths == WeightPaths::fair) j["fair_sampling"] = s.weight_paths == WeightPaths::fair;
  };
  o.read = [](SearchOptions& s, const json& j, const std::string& context) {
    s.weight_paths = json_get<bool>(j, "fair_sampling", context) ? WeightPaths::fair : WeightPaths::theta;
  };
  o.parse = [](SearchOptions& s, const std::string& text, const std::string& flag) {
    s.weight_paths = parse_weight_paths(text, flag);
  };
  o.show = [](const SearchOptions& s) { return std::string(weight_paths_name(s.weight_paths)); };
  return o;
}

// The ranking is the field feasible_sampling (written while true, as it was before it became the default).
SearchOption ranking_option() {
  SearchOption o = boolean(
      "feasible_sampling", &SearchOptions::feasible_sampling,
      "How theta compares its samples: feasible (every sample drawn from theta within the configurations that meet "
      "the threshold, ranked by loss alone) or paper (samples drawn freely, those that meet T first by loss, the "
      "others after by how far they miss it)",
      false);
  o.flag = "ranking";
  o.values = "feasible or paper";
  o.is_flag = false;
  o.parse = [](SearchOptions& s, const std::string& text, const std::string& flag) {
    if (text != "feasible" && text != "paper") fail(flag, " '", text, "': expected feasible or paper");
    s.feasible_sampling = text == "feasible";
  };
  o.show = [](const SearchOptions& s) { return std::string(s.feasible_sampling ? "feasible" : "paper"); };
  return o;
}

void add_training_options(std::vector<SearchOption>& all) {
  using S = SearchOptions;
  auto positive = [](double v) { return v > 0; };
  all.push_back(number<int>("epochs", &S::epochs, "1..100000", within(1, 100000),
                            "Supernet epochs (default: the --budget's, quick 8, paper 50)"));
  all.back().resume_free = true;  // more epochs extend a search
  all.push_back(number<int>("batch_size", &S::batch_size, "1..65536", within(1, 65536), "Minibatch size"));
  all.push_back(number<int>("lambda", &S::lambda, "2..64", within(2, 64),
                            "Samples per step, for the weights (with theta paths) and for theta each"));
  all.push_back(number<double>("lr", &S::lr, "> 0", positive, "Supernet SGD learning rate, cosine-decayed"));
  all.push_back(number<double>("momentum", &S::momentum, "0 <= m < 1", [](double v) { return v >= 0 && v < 1; },
                               "Supernet SGD momentum (Nesterov when > 0)"));
  all.push_back(number<double>("weight_decay", &S::weight_decay, ">= 0", [](double v) { return v >= 0; },
                               "Supernet SGD weight decay"));
  all.push_back(number<double>("delta_init", &S::delta_init, "> 0", positive, "ASNG step size delta at Delta = 1"));
  all.push_back(number<double>("convergence", &S::convergence, "0 < t <= 1", [](double v) { return v > 0 && v <= 1; },
                               "Stop once every variable's largest probability reaches this"));
  all.push_back(number<double>("val_fraction", &S::val_fraction, "0 < f < 1", [](double v) { return v > 0 && v < 1; },
                               "Share of the training images held out to score configurations for theta"));
  all.push_back(number<int64_t>("train_limit", &S::train_limit, ">= 0 (0 = all)", [](int64_t v) { return v >= 0; },
                                "Training images used, a stratified subset (default: the --budget's; 0 = all)"));
  all.push_back(boolean("augment", &S::augment, "Random crops and flips on the training images", std::nullopt));
  all.push_back(weight_paths_option());
  all.push_back(ranking_option());
  all.push_back(number<uint64_t>("seed", &S::seed, "a whole number >= 0", [](uint64_t) { return true; },
                                 "Seed of the search: data split, sampling, initial weights"));
}

// Options that choose the answer once the weights are trained: a finished search may be chosen from again.
void add_selection_options(std::vector<SearchOption>& all) {
  using S = SearchOptions;
  const size_t first = all.size();
  all.push_back(number<int64_t>("eval_limit", &S::eval_limit, ">= 0 (0 = all)", [](int64_t v) { return v >= 0; },
                                "Held-out images that score the answer and random:N's candidates after the "
                                "search (default: the --budget's, quick 2000, paper all; 0 = all)"));
  all.push_back(number<double>("fill_budget", &S::fill_budget, "0 <= f < 1 (0 = off)",
                               [](double v) { return v >= 0 && v < 1; },
                               "The answer must use at least this share of the threshold: a faster mode gives way to "
                               "the most probable configuration within [F x T, T] (0: theta's mode as it is)",
                               0.0));
  for (size_t i = first; i < all.size(); ++i) all[i].resume_free = true;
}

std::vector<SearchOption> declare() {
  std::vector<SearchOption> all;
  add_training_options(all);
  add_selection_options(all);
  for (SearchOption& o : all)
    if (o.flag.empty()) {
      o.flag = o.name;
      for (char& c : o.flag) c = c == '_' ? '-' : c;
    }
  return all;
}

}  // namespace

const std::vector<SearchOption>& search_options() {
  static const std::vector<SearchOption> all = declare();
  return all;
}

json SearchOptions::to_json(bool every) const {
  json j = json::object();
  for (const SearchOption& o : search_options()) o.write(*this, j, every);
  return j;
}

std::vector<std::string> SearchOptions::field_names() {
  std::vector<std::string> names;
  for (const SearchOption& o : search_options()) names.insert(names.end(), o.keys.begin(), o.keys.end());
  return names;
}

namespace {

// Fields of options that the truth measured and the search dropped (docs/findings.md), each with the value at which
// it did nothing. The complete options of older search.json files record them so, and those must still read as a
// config; any other value asks for a search that no longer exists and is refused by name.
const json* retired_inert_value(const std::string& field) {
  static const json retired = {{"uniform_weights", false}, {"warmup_epochs", 0},     {"zero_init_residual", false},
                               {"start_at_threshold", false}, {"soft_constraint", 0}, {"budget_reward", 0},
                               {"best_split", false},     {"tie_infeasible", false}, {"rescore", 0},
                               {"shared_kernels", false},   {"sandwich", false},      {"theta_batch_size", 0}};
  auto it = retired.find(field);
  return it == retired.end() ? nullptr : &*it;
}

}  // namespace

void SearchOptions::apply_json(const json& j, const std::string& context) {
  if (!j.is_object()) fail(context, ": expected an object of search options, got ", j.type_name());
  const std::vector<std::string> names = field_names();
  const std::set<std::string> known(names.begin(), names.end());
  for (auto& [k, v] : j.items()) {
    if (known.count(k)) continue;
    const json* inert = retired_inert_value(k);
    if (!inert) {
      std::string expected;
      for (const std::string& n : known) expected += (expected.empty() ? "" : ", ") + n;
      fail(context, ": unknown field '", k, "'; expected one of ", expected);
    }
    if (v != *inert)
      fail(context, ": removed option '", k, "' = ", v.dump(), ": only the value that turned it off (", inert->dump(),
           ", as older search.json files record it) is accepted; docs/findings.md says what it measured");
  }
  for (const SearchOption& o : search_options())
    for (const std::string& k : o.keys)
      if (j.contains(k)) {
        o.read(*this, j, context);
        break;
      }
  validate();
}

SearchOptions SearchOptions::from_json(const json& j, const std::string& context) {
  SearchOptions o;
  o.apply_json(j, context);
  return o;
}

json SearchOptions::training_fields(json options) {
  for (const SearchOption& o : search_options())
    if (o.resume_free)
      for (const std::string& k : o.keys) options.erase(k);
  return options;
}

void SearchOptions::validate() const {
  // Each value against its own declaration (as a round trip through its JSON), then what relates two options.
  const json j = to_json(true);
  SearchOptions copy;
  for (const SearchOption& o : search_options()) o.read(copy, j, "search options");
}

}  // namespace nasc
