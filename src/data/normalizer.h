// Per-channel input normalisation, x = (pixel/255 - mean[c]) / std[c], fitted on training data and recorded
// in results and exported models so that deployment normalises exactly as training did.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/json_io.h"
#include "data/image_set.h"

namespace nasc {

struct Normalizer {
  std::vector<float> mean, std;  // per channel, on the [0, 1] pixel scale

  int channels() const { return int(mean.size()); }

  // Mean and (population) standard deviation of each channel over `idx` (all images when empty).
  // A constant channel gets std 1 so that it maps to a constant instead of dividing by zero.
  static Normalizer fit(const ImageSet& set, const std::vector<int64_t>& idx = {});
  static Normalizer identity(int channels);  // mean 0, std 1

  // x = pixel * scale[c] + offset[c]: the same map as above, as used per pixel in hot loops.
  std::vector<float> scale() const;
  std::vector<float> offset() const;

  json to_json() const;
  // Throws Error naming `context` unless mean and std are equally long, non-empty, finite, std > 0.
  static Normalizer from_json(const json& j, const std::string& context);
};

}  // namespace nasc
