// Prices blocks of shapes a hardware profile has never seen, from the blocks it has: a per-device model of an
// inverted-residual block's latency on its MACs and activation size, chosen by leave-one-shape-out validation.
// This is what puts a space of one's own on published devices whose tables cover another space.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "common/json_io.h"
#include "latency/profile.h"
#include "space/space.h"

namespace nasc {

// The geometry in a `ConvBlock_H.._W.._Cin.._Cout.._exp.._kernel.._stride.._group..` key (HW-NAS-Bench naming).
struct ConvBlockShape {
  int h = 0, w = 0, cin = 0, cout = 0, expansion = 0, kernel = 0, stride = 0, groups = 0;
  // What a block is matched on when one is held out: everything but the op (kernel, expansion, groups).
  std::string placement() const;
};
std::optional<ConvBlockShape> parse_conv_block_key(const std::string& key);

// What the model sees of a block: millions of MACs of the two 1x1 convolutions and of the depthwise one, millions
// of activation elements read and written, and the op's discrete traits.
struct BlockFeatures {
  double pointwise_mmac = 0, depthwise_mmac = 0, activation_m = 0;
  bool stride2 = false, grouped = false, kernel5 = false;
};
BlockFeatures block_features(const ConvBlockShape& s);

enum class BlockModelForm {
  Linear,  // ms = b0 + b1 pw + b2 dw + b3 act + b4 [stride 2] + b5 [grouped], least squares on relative error
  Power,   // log ms = b0 + b1 log pw + b2 log dw + b3 log act + b4 [kernel 5] + b5 [grouped]
};
const char* form_name(BlockModelForm f);
std::string form_formula(BlockModelForm f);

struct BlockRow {
  std::string key;
  ConvBlockShape shape;
  double ms = 0;
};

struct BlockModel {
  BlockModelForm form = BlockModelForm::Linear;
  std::vector<double> coef;
  double predict(const ConvBlockShape& s) const;
};
// Throws when there are fewer rows than terms or a row's latency is not > 0.
BlockModel fit_block_model(const std::vector<BlockRow>& rows, BlockModelForm form);

// Relative errors (|predicted - measured| / measured) of each row when every block of its placement is left out
// of the fit: the error on a shape the model has not seen, which is what pricing a new space asks of it.
struct CrossValidation {
  BlockModelForm form = BlockModelForm::Linear;
  int rows = 0, folds = 0;
  double median_pct = 0, p90_pct = 0, max_pct = 0;
  json to_json() const;
};
CrossValidation cross_validate(const std::vector<BlockRow>& rows, BlockModelForm form);

// Every ConvBlock entry of a profile as a row; identity skips, stems and heads are not blocks of the model.
std::vector<BlockRow> conv_block_rows(const HardwareProfile& p);

struct ProfilePredictionOptions {
  // Measured on one machine, of the source profile's space and of the target space: the blocks that are not
  // ConvBlocks (stem, head, 1x1 skips) are priced as the target reference's, scaled by the source's ratio to
  // the source reference over the same kind of blocks.
  const HardwareProfile* source_reference = nullptr;
  const HardwareProfile* target_reference = nullptr;
};

struct ProfilePrediction {
  HardwareProfile profile;  // every key of the target space; metadata.fit says how each kind was priced
  std::vector<CrossValidation> validation;  // one per form, the chosen one first
  std::vector<std::string> extrapolated;    // predicted keys with a feature outside the source's range
  std::vector<std::string> predicted_keys;  // the ConvBlocks the model priced
  int copied = 0, predicted = 0, scaled = 0;
  double fixed_ratio = 0;
};

// Throws naming what is missing: a source with too few ConvBlocks, a reference lacking a key, a target key that
// is neither a ConvBlock nor priced by the references, a prediction <= 0.
ProfilePrediction predict_profile(const HardwareProfile& source, const Space& target,
                                  const ProfilePredictionOptions& opt);

// The model's error on the same hardware measured for the target space: relative error of every predicted
// ConvBlock the measured profile prices, and of whole networks (1,000 seeded uniform architectures, device-only),
// where the blocks' errors partly cancel. Throws when the measured profile lacks a key of the space.
struct PredictionCheck {
  std::string measured;  // the measured profile's source
  int keys = 0, networks = 0;
  double median_pct = 0, max_pct = 0;
  double network_median_pct = 0, network_max_pct = 0;
  json to_json() const;
};
PredictionCheck check_prediction(const ProfilePrediction& p, const Space& space, const HardwareProfile& measured);

}  // namespace nasc
