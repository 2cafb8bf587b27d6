#include "latency/block_model.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <regex>
#include <set>

#include "common/error.h"
#include "common/stats.h"
#include "latency/estimator.h"

namespace nasc {

std::string ConvBlockShape::placement() const { return cat("H", h, "_W", w, "_Cin", cin, "_Cout", cout, "_s", stride); }

std::optional<ConvBlockShape> parse_conv_block_key(const std::string& key) {
  static const std::regex re(
      R"(ConvBlock_H(\d+)_W(\d+)_Cin(\d+)_Cout(\d+)_exp(\d+)_kernel(\d+)_stride(\d+)_group(\d+))");
  std::smatch m;
  if (!std::regex_match(key, m, re)) return std::nullopt;
  ConvBlockShape s;
  int* fields[] = {&s.h, &s.w, &s.cin, &s.cout, &s.expansion, &s.kernel, &s.stride, &s.groups};
  for (int i = 0; i < 8; ++i) {
    const std::string digits = m[i + 1].str();
    if (digits.size() > 6) return std::nullopt;  // no block has a million channels; keeps stoi in range
    *fields[i] = std::stoi(digits);
    if (*fields[i] <= 0) return std::nullopt;
  }
  return s;
}

BlockFeatures block_features(const ConvBlockShape& s) {
  const double mid = double(s.cin) * s.expansion;
  const double in = double(s.h) * s.w, out = double(s.h / s.stride) * double(s.w / s.stride);
  BlockFeatures f;
  f.pointwise_mmac = (in * s.cin * mid / s.groups + out * mid * s.cout / s.groups) / 1e6;
  f.depthwise_mmac = out * mid * s.kernel * s.kernel / 1e6;
  f.activation_m = (in * s.cin + in * mid + out * mid + out * s.cout) / 1e6;
  f.stride2 = s.stride > 1;
  f.grouped = s.groups > 1;
  f.kernel5 = s.kernel >= 5;
  return f;
}

const char* form_name(BlockModelForm f) { return f == BlockModelForm::Linear ? "linear" : "power"; }

std::string form_formula(BlockModelForm f) {
  return f == BlockModelForm::Linear
             ? "ms = b0 + b1 pointwise_MMAC + b2 depthwise_MMAC + b3 activations_M + b4 [stride 2] + b5 [grouped], "
               "least squares on relative error"
             : "log ms = b0 + b1 log pointwise_MMAC + b2 log depthwise_MMAC + b3 log activations_M + b4 [kernel 5] + "
               "b5 [grouped], least squares on log ms";
}

namespace {

constexpr int kTerms = 6;

std::vector<double> design_row(const ConvBlockShape& s, BlockModelForm form) {
  const BlockFeatures f = block_features(s);
  if (form == BlockModelForm::Linear)
    return {1.0, f.pointwise_mmac, f.depthwise_mmac, f.activation_m, f.stride2 ? 1.0 : 0.0, f.grouped ? 1.0 : 0.0};
  return {1.0,
          std::log(f.pointwise_mmac),
          std::log(f.depthwise_mmac),
          std::log(f.activation_m),
          f.kernel5 ? 1.0 : 0.0,
          f.grouped ? 1.0 : 0.0};
}

}  // namespace

double BlockModel::predict(const ConvBlockShape& s) const {
  const std::vector<double> x = design_row(s, form);
  double y = 0;
  for (int i = 0; i < kTerms; ++i) y += coef.at(i) * x[i];
  return form == BlockModelForm::Linear ? y : std::exp(y);
}

BlockModel fit_block_model(const std::vector<BlockRow>& rows, BlockModelForm form) {
  if (int(rows.size()) < kTerms)
    fail("fitting a block latency model needs at least ", kTerms, " ConvBlock latencies, got ", rows.size());
  auto A = torch::empty({int64_t(rows.size()), kTerms}, torch::kFloat64);
  auto b = torch::empty({int64_t(rows.size()), 1}, torch::kFloat64);
  auto Aa = A.accessor<double, 2>();
  auto ba = b.accessor<double, 2>();
  for (size_t i = 0; i < rows.size(); ++i) {
    const double ms = rows[i].ms;
    if (!(std::isfinite(ms) && ms > 0))
      fail("latency of ", rows[i].key, " is ", ms, " ms: a block latency model needs values > 0");
    const std::vector<double> x = design_row(rows[i].shape, form);
    // Linear: rows divided by the measurement, so that the fit minimises relative error (small blocks count as
    // much as large ones, as they do in a network's sum of a few dozen blocks). Power: log space does that.
    for (int j = 0; j < kTerms; ++j) Aa[i][j] = form == BlockModelForm::Linear ? x[j] / ms : x[j];
    ba[i][0] = form == BlockModelForm::Linear ? 1.0 : std::log(ms);
  }
  // gelsd: a trait no row has (every block ungrouped, say) leaves an all-zero column, which the minimum-norm
  // solution prices at 0 rather than failing.
  auto solution = std::get<0>(at::linalg_lstsq(A, b, c10::nullopt, "gelsd"));
  auto sa = solution.accessor<double, 2>();
  BlockModel m;
  m.form = form;
  for (int j = 0; j < kTerms; ++j) m.coef.push_back(sa[j][0]);
  return m;
}

json CrossValidation::to_json() const {
  return {{"form", form_name(form)},     {"rows", rows},        {"folds", folds},
          {"median_pct", median_pct},    {"p90_pct", p90_pct},  {"max_pct", max_pct}};
}

CrossValidation cross_validate(const std::vector<BlockRow>& rows, BlockModelForm form) {
  std::map<std::string, std::vector<size_t>> by_placement;
  for (size_t i = 0; i < rows.size(); ++i) by_placement[rows[i].shape.placement()].push_back(i);
  if (by_placement.size() < 2)
    fail("validating a block latency model needs blocks of at least 2 placements, got ", by_placement.size());
  std::vector<double> errors;
  for (const auto& [placement, held] : by_placement) {
    std::vector<BlockRow> train;
    for (size_t i = 0; i < rows.size(); ++i)
      if (rows[i].shape.placement() != placement) train.push_back(rows[i]);
    const BlockModel m = fit_block_model(train, form);
    for (size_t i : held) errors.push_back(std::abs(m.predict(rows[i].shape) - rows[i].ms) / rows[i].ms * 100);
  }
  std::sort(errors.begin(), errors.end());
  auto quantile = [&](double q) { return errors[size_t(std::floor(q * double(errors.size() - 1) + 0.5))]; };
  CrossValidation cv;
  cv.form = form;
  cv.rows = int(rows.size());
  cv.folds = int(by_placement.size());
  cv.median_pct = quantile_sorted(errors, 0.5);
  cv.p90_pct = quantile(0.9);
  cv.max_pct = errors.back();
  return cv;
}

std::vector<BlockRow> conv_block_rows(const HardwareProfile& p) {
  std::vector<BlockRow> rows;
  for (const auto& [key, e] : p.entries())
    if (auto s = parse_conv_block_key(key)) rows.push_back({key, *s, e.ms});
  return rows;
}

namespace {

bool is_block_key(const std::string& key) { return key.rfind("ConvBlock_", 0) == 0; }

// Source / reference over the keys both price that are not ConvBlocks and cost something (identity skips are 0
// in fitted profiles): how much slower or faster the source runs the fixed blocks.
double fixed_block_ratio(const HardwareProfile& source, const HardwareProfile& reference,
                         std::vector<std::string>& used) {
  double s = 0, r = 0;
  for (const auto& [key, e] : source.entries()) {
    if (is_block_key(key) || !(e.ms > 0) || !reference.contains(key)) continue;
    s += e.ms;
    r += reference.ms(key);
    used.push_back(key);
  }
  if (used.empty() || !(r > 0))
    fail("profiles ", source.source(), " and ", reference.source(),
         " share no priced key besides ConvBlocks (stem, head, 1x1 skips): expected the source reference to be a "
         "profile of the source's space");
  return s / r;
}

struct Range {
  double lo = INFINITY, hi = -INFINITY;
  void add(double v) { lo = std::min(lo, v), hi = std::max(hi, v); }
  bool outside(double v) const { return v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9); }
};

// What the predicted profile records of how it was made (its "fit" metadata).
json prediction_provenance(const HardwareProfile& source, const Space& target, const ProfilePredictionOptions& opt,
                           const BlockModel& model, size_t fitted_rows, const ProfilePrediction& out,
                           const std::vector<std::string>& fixed_keys) {
  std::string fixed_list;
  for (const auto& k : fixed_keys) fixed_list += (fixed_list.empty() ? "" : ", ") + k;
  json validation = json::array();
  for (const auto& v : out.validation) validation.push_back(v.to_json());
  return {
      {"method", "block latency model"},
      {"source_profile", source.source()},
      {"source_fit", source.meta().fit},
      {"target_space", target.name()},
      {"model", {{"form", form_name(model.form)}, {"formula", form_formula(model.form)}, {"coefficients", model.coef}}},
      {"rule", cat("keys the source prices are copied; identity skips cost 0; every other ConvBlock is priced by the "
                   "model, fitted on the source's ", fitted_rows, " ConvBlocks; the remaining blocks (stem, head, 1x1 "
                   "skips) are the target reference's latencies times ", out.fixed_ratio,
                   ", the source's ratio to the source reference over such blocks")},
      {"cross_validation", {{"held_out", "every block of one placement (H, W, Cin, Cout, stride) per fold"},
                            {"forms", validation}}},
      {"source_reference", opt.source_reference->source()},
      {"target_reference", opt.target_reference->source()},
      {"fixed_ratio", out.fixed_ratio},
      {"fixed_keys", fixed_list},
      {"copied_keys", out.copied},
      {"predicted_keys", out.predicted},
      {"scaled_keys", out.scaled},
      {"extrapolated_keys", out.extrapolated}};
}

}  // namespace

ProfilePrediction predict_profile(const HardwareProfile& source, const Space& target,
                                  const ProfilePredictionOptions& opt) {
  if (!opt.source_reference || !opt.target_reference)
    fail("predicting a profile needs a reference profile of the source's space and one of the target space");
  const std::vector<BlockRow> rows = conv_block_rows(source);
  if (rows.size() < size_t(kTerms) * 2)
    fail("profile ", source.source(), " prices ", rows.size(), " ConvBlock keys: expected at least ", kTerms * 2,
         " to fit and validate a block latency model");

  ProfilePrediction out;
  for (BlockModelForm f : {BlockModelForm::Linear, BlockModelForm::Power})
    out.validation.push_back(cross_validate(rows, f));
  std::stable_sort(out.validation.begin(), out.validation.end(),
                   [](const CrossValidation& a, const CrossValidation& b) { return a.median_pct < b.median_pct; });
  const BlockModel model = fit_block_model(rows, out.validation.front().form);

  Range pw, dw, act;
  for (const BlockRow& r : rows) {
    const BlockFeatures f = block_features(r.shape);
    pw.add(f.pointwise_mmac), dw.add(f.depthwise_mmac), act.add(f.activation_m);
  }
  std::vector<std::string> fixed_keys;
  out.fixed_ratio = fixed_block_ratio(source, *opt.source_reference, fixed_keys);

  std::set<std::string> identity;
  const int skip = target.op_index("skip");
  for (int l = 0; skip >= 0 && l < target.num_layers(); ++l)
    if (target.skip_is_identity(l)) identity.insert(target.layer_key(l, skip));

  HardwareProfile& p = out.profile;
  p.meta() = source.meta();
  p.meta().batch_size = 1;
  for (const std::string& key : space_keys(target)) {
    if (source.contains(key)) {
      p.set(key, source.ms(key));
      ++out.copied;
    } else if (identity.count(key)) {
      p.set(key, 0.0);
    } else if (auto shape = parse_conv_block_key(key)) {
      const double ms = model.predict(*shape);
      if (!(std::isfinite(ms) && ms > 0))
        fail("the ", form_name(model.form), " block model of ", source.source(), " prices ", key, " at ", ms,
             " ms: expected > 0 (the shape lies too far outside the source's blocks)");
      p.set(key, ms);
      ++out.predicted;
      out.predicted_keys.push_back(key);
      const BlockFeatures f = block_features(*shape);
      if (pw.outside(f.pointwise_mmac) || dw.outside(f.depthwise_mmac) || act.outside(f.activation_m))
        out.extrapolated.push_back(key);
    } else {
      if (!opt.target_reference->contains(key))
        fail("target reference ", opt.target_reference->source(), " lacks key ", key,
             ": expected a measured profile of space ", target.name(), " (nasc profile)");
      p.set(key, opt.target_reference->ms(key) * out.fixed_ratio);
      ++out.scaled;
    }
  }

  p.meta().fit = prediction_provenance(source, target, opt, model, rows.size(), out, fixed_keys);
  return out;
}

json PredictionCheck::to_json() const {
  return {{"measured_profile", measured}, {"blocks", {{"keys", keys}, {"median_pct", median_pct}, {"max_pct", max_pct}}},
          {"networks", {{"count", networks}, {"median_pct", network_median_pct}, {"max_pct", network_max_pct}}}};
}

namespace {

std::pair<double, double> median_and_max(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {quantile_sorted(v, 0.5), v.back()};
}

}  // namespace

PredictionCheck check_prediction(const ProfilePrediction& p, const Space& space, const HardwareProfile& measured) {
  measured.require(space);
  std::vector<double> blocks, networks;
  for (const auto& key : p.predicted_keys)
    if (measured.ms(key) > 0) blocks.push_back(std::abs(p.profile.ms(key) - measured.ms(key)) / measured.ms(key) * 100);
  const LatencyEstimator predicted(space, p.profile, p.profile, LinkModel{}, Encoding::Fp32);
  const LatencyEstimator truth(space, measured, measured, LinkModel{}, Encoding::Fp32);
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<int> op(0, space.num_ops() - 1);
  for (int i = 0; i < 1000; ++i) {
    Arch a(size_t(space.num_layers()));
    for (auto& o : a) o = op(rng);
    const double t = truth.total_ms(a, space.num_blocks());
    networks.push_back(std::abs(predicted.total_ms(a, space.num_blocks()) - t) / t * 100);
  }
  PredictionCheck c;
  c.measured = measured.source();
  c.keys = int(blocks.size());
  c.networks = int(networks.size());
  if (!blocks.empty()) std::tie(c.median_pct, c.max_pct) = median_and_max(blocks);
  std::tie(c.network_median_pct, c.network_max_pct) = median_and_max(networks);
  return c;
}

}  // namespace nasc
