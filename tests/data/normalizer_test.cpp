#include "data/normalizer.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "data_test_util.h"

namespace nasc {
namespace {

// Two images of 2 channels x 2 pixels: channel 0 holds {0, 255, 0, 255}, channel 1 is constant 51.
ImageSet two_channel_set() {
  ImageSet set;
  set.name = "t";
  set.c = 2;
  set.h = 1;
  set.w = 2;
  set.num_classes = 2;
  set.pixels = {0, 255, 51, 51, 0, 255, 51, 51};
  set.labels = {0, 1};
  return set;
}

TEST(Normalizer, FitsPerChannelMeanAndStd) {
  Normalizer n = Normalizer::fit(two_channel_set());
  ASSERT_EQ(n.channels(), 2);
  EXPECT_FLOAT_EQ(n.mean[0], 0.5f);
  EXPECT_FLOAT_EQ(n.std[0], 0.5f);
  EXPECT_FLOAT_EQ(n.mean[1], 0.2f);
  EXPECT_FLOAT_EQ(n.std[1], 1.0f);  // constant channel: no division by zero
  // The pixel-space affine map agrees with (p/255 - mean)/std.
  EXPECT_NEAR(255 * n.scale()[0] + n.offset()[0], 1.0, 1e-6);
  EXPECT_NEAR(0 * n.scale()[0] + n.offset()[0], -1.0, 1e-6);
}

TEST(Normalizer, FitsOnSelectedIndices) {
  ImageSet set = two_channel_set();
  set.pixels[0] = 255;  // image 0 now has channel 0 all 255
  Normalizer n = Normalizer::fit(set, {0});
  EXPECT_FLOAT_EQ(n.mean[0], 1.0f);
  EXPECT_THROW(Normalizer::fit(set, {5}), Error);
}

TEST(Normalizer, JsonRoundTripAndValidation) {
  Normalizer n{{0.25f, 0.5f, 0.75f}, {0.1f, 0.2f, 0.3f}};
  Normalizer back = Normalizer::from_json(n.to_json(), "model.json");
  EXPECT_EQ(back.mean, n.mean);
  EXPECT_EQ(back.std, n.std);
  const std::string msg = test::error_of([] {
    Normalizer::from_json(json{{"mean", {0.5}}, {"std", {0.0}}}, "model.json");
  });
  EXPECT_NE(msg.find("model.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("std > 0"), std::string::npos) << msg;
  EXPECT_THROW(Normalizer::from_json(json{{"mean", {0.5, 0.1}}, {"std", {1.0}}}, "m"), Error);
  EXPECT_THROW(Normalizer::from_json(json{{"mean", {0.5}}}, "m"), Error);
}

}  // namespace
}  // namespace nasc
